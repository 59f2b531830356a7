"""Progress bars for long work (reading raw files, encoding the datastore, BM25 search, training).

One factory, :func:`progress`, decides once per task whether to draw a tqdm bar: never when the
environment has ``CI=true`` (or ``1``) or when stderr, where tqdm writes, is not a terminal (a log
file, a pipe, a notebook, a test run). Either way the returned :class:`Progress` has the same
``update`` / ``set_postfix`` / ``close`` API, so callers never branch on it, and with ``log`` given
it logs one summary line on close (count, seconds, rate) — what a CI log keeps instead of the bar.
tqdm is optional: without it every bar is quiet.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any


def interactive() -> bool:
    """Whether progress bars are drawn: CI is not set to true / 1 and stderr is a terminal."""
    if os.environ.get("CI", "").strip().lower() in ("true", "1"):
        return False
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stream
        return False


class Progress:
    """A tqdm bar, or nothing, behind one API; counts and times the work either way.

    Use :func:`progress` to make one. Also a context manager (closes on exit).

    Attributes:
        bar: the tqdm bar, or None when quiet.
        n: units done so far.
        total: expected units (None: unknown).
    """

    def __init__(
        self,
        total: float | None,
        desc: str,
        unit: str,
        bar: Any = None,
        log: logging.Logger | None = None,
    ) -> None:
        self.total, self.desc, self.unit, self.bar, self.log = total, desc, unit, bar, log
        self.n: float = 0
        self._start = time.perf_counter()
        self._closed = False

    @property
    def enabled(self) -> bool:
        """Whether a bar is drawn."""
        return self.bar is not None

    @property
    def elapsed(self) -> float:
        """Seconds since the bar was made."""
        return time.perf_counter() - self._start

    @property
    def rate(self) -> float:
        """Units per second so far."""
        return self.n / max(self.elapsed, 1e-9)

    def update(self, n: float = 1) -> None:
        """Advance by ``n`` units."""
        self.n += n
        if self.bar is not None:
            self.bar.update(n)

    def set_postfix(self, **values: Any) -> None:
        """Show ``key=value`` pairs after the bar (nothing when quiet)."""
        if self.bar is not None:
            self.bar.set_postfix(values, refresh=False)

    def close(self, summary: str | None = None, *, failed: bool = False) -> None:
        """Remove the bar and log the summary line (once).

        Args:
            summary: extra text for the summary line, e.g. ``"12000 rows/s"``.
            failed: the work did not finish: remove the bar, log nothing.
        """
        if self._closed:
            return
        self._closed = True
        if self.bar is not None:
            self.bar.close()
        if self.log is not None and not failed:
            scale, unit = (1e6, "MB") if self.unit == "B" else (1, _plural(self.unit))
            extra = f", {summary}" if summary else ""
            self.log.info(
                "%s: %s %s in %.1f s (%s %s/s%s)",
                self.desc, _fmt(self.n / scale), unit, self.elapsed, _fmt(self.rate / scale), unit, extra,
            )  # fmt: skip

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.close(failed=exc_type is not None)


def _plural(unit: str) -> str:
    if unit.endswith("y") and unit[-2:-1] not in "aeiou":
        return unit[:-1] + "ies"  # query -> queries
    return unit + ("es" if unit.endswith(("s", "x", "ch", "sh")) else "s")  # batch -> batches


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 10 or float(x).is_integer() else f"{x:.2f}"


def progress(
    total: float | None,
    desc: str,
    unit: str = "it",
    *,
    enabled: bool | None = None,
    log: logging.Logger | None = None,
    unit_scale: bool = False,
) -> Progress:
    """Make a progress bar for ``total`` units of work.

    Args:
        total: expected units, None when unknown (the bar then shows count and rate only).
        desc: what is being done, shown before the bar and in the summary line.
        unit: name of one unit ("row", "window", "query", "B"); tqdm shows ``<unit>/s``.
        enabled: force the bar on or off; None decides with :func:`interactive`.
        log: logger for the summary line on :meth:`Progress.close`; None logs nothing.
        unit_scale: show k / M / G prefixes (bytes are shown in 1024 steps).

    Returns:
        A :class:`Progress`, drawing a tqdm bar only when enabled and tqdm is importable.
    """
    bar = None
    if interactive() if enabled is None else enabled:
        try:
            from tqdm.auto import tqdm  # optional: the library runs without it
        except ImportError:  # pragma: no cover - tqdm is a dependency of the project
            tqdm = None
        if tqdm is not None:
            bar = tqdm(
                total=total, desc=desc, unit=unit, leave=False, dynamic_ncols=True,
                unit_scale=unit_scale, unit_divisor=1024 if unit == "B" else 1000,
            )  # fmt: skip
    return Progress(total, desc, unit, bar, log)
