"""Global temporal split: retrieval | train | valid | test (DESIGN.md step 1, PROTOCOL.md).

Three global boundaries cut time into half-open periods::

    RETRIEVAL: ts < train_start <= TRAIN < valid_start <= VALID < test_start <= TEST

``train_start`` and ``test_start`` come either from explicit time points (ISO-8601 with a UTC offset,
or integers in the table's own time unit) or from time quantiles of the rows' timestamps.
``valid_start`` carves the validation slice from the end of the train period: it is the
``1 - valid_fraction`` quantile of the train rows' timestamps, so validation holds about
``valid_fraction`` of the train rows (rows sharing the boundary timestamp all go to validation;
when ties would leave the train period empty, validation starts at the next distinct timestamp).
Quantile boundaries are rounded up to an integer timestamp, so ties never straddle a boundary.

Memory: the output shares the input's columns (copy-on-write) and adds one int8 column; the period
codes and the per-period user counts are computed chunk by chunk, so at Taobao's 100 M rows the
stage needs little beyond its input table.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from liftrec.recsys.config import check
from liftrec.recsys.errors import ConfigError, DataError
from liftrec.recsys.schema import PERIOD, PERIODS, TS, USER_ID

logger = logging.getLogger(__name__)

_CHUNK_ROWS = 1 << 22  # rows per vectorised step: bounds the temporaries


def parse_time_point(value: str | int, path: str = "split.time_points") -> int:
    """Turn a time point into an integer timestamp.

    Args:
        value: unix seconds (or the dataset's own time unit) as an int or a string of digits, or an
            ISO-8601 date-time with a UTC offset (``2017-12-02T00:00:00+08:00``, ``...Z``).
        path: parameter path for error messages.

    Returns:
        The timestamp as an int.

    Raises:
        ConfigError: when the value is neither an integer nor an ISO-8601 time with an offset.
    """
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise ConfigError(f"parameter '{path}': {value!r} is neither an integer nor ISO-8601") from None
    if ts.tzinfo is None:
        raise ConfigError(
            f"parameter '{path}': {value!r} has no UTC offset; write e.g. '{value}+08:00' or '{value}Z'"
        )
    return int(ts.timestamp())


@dataclass(frozen=True)
class SplitConfig:
    """How to split interactions by global time.

    Attributes:
        mode: "quantiles" (boundaries from time quantiles of the rows) or "time_points".
        time_points: (train_start, test_start), ISO-8601 with offset or unix seconds; used when
            mode = "time_points".
        quantiles: time quantiles where train and test start; used when mode = "quantiles".
        valid_fraction: last fraction (by time) of the train period carved out as validation.
    """

    mode: Literal["time_points", "quantiles"] = "quantiles"
    time_points: tuple[str | int, ...] | None = None
    quantiles: tuple[float, float] = (0.7, 0.85)
    valid_fraction: float = 0.1

    def __post_init__(self) -> None:
        check(
            self.mode in ("time_points", "quantiles"),
            "mode",
            f"must be time_points or quantiles, got {self.mode!r}",
        )
        q = tuple(self.quantiles)
        check(len(q) == 2, "quantiles", f"needs exactly 2 values (train, test start), got {list(q)}")
        check(0 < q[0] < q[1] < 1, "quantiles", f"must be strictly increasing inside (0, 1), got {list(q)}")
        check(0 < self.valid_fraction < 1, "valid_fraction", f"must be in (0, 1), got {self.valid_fraction}")
        if self.mode == "time_points":
            tp = self.time_points
            check(tp is not None, "time_points", "required when mode = time_points")
            check(
                len(tp) == 2,
                "time_points",
                f"needs exactly 2 values (train_start, test_start), got {list(tp)}",
            )
            a, b = (parse_time_point(v, f"time_points[{i}]") for i, v in enumerate(tp))
            check(a < b, "time_points", f"must be increasing, got {list(tp)} = {a}, {b}")


def _iso(ts: int, time_unit: str) -> str | None:
    if time_unit != "s":
        return None
    return pd.Timestamp(int(ts), unit="s", tz="UTC").isoformat()


def _ceil_quantile(values: np.ndarray, q: float) -> int:
    return int(np.ceil(np.quantile(values, q)))


def compute_boundaries(ts: np.ndarray, cfg: SplitConfig) -> tuple[int, int, int]:
    """Return (train_start, valid_start, test_start) for timestamps ``ts`` under ``cfg``."""
    if cfg.mode == "time_points":
        train_start, test_start = (parse_time_point(v) for v in cfg.time_points)  # type: ignore[union-attr]
    else:
        train_start, test_start = (_ceil_quantile(ts, q) for q in cfg.quantiles)
    in_train = ts[(ts >= train_start) & (ts < test_start)]
    if len(in_train):
        valid_start = _ceil_quantile(in_train, 1.0 - cfg.valid_fraction)
        if valid_start <= in_train.min():
            # Ties put every train row at or after the quantile: start valid at the next timestamp.
            later = in_train[in_train > in_train.min()]
            valid_start = int(later.min()) if len(later) else valid_start
    else:
        valid_start = test_start  # the train period is empty; reported below
    return train_start, valid_start, test_start


def _users_per_period(df: pd.DataFrame, period: np.ndarray, chunk_rows: int) -> dict[int, int] | None:
    """Distinct users per period code, or None without a user column.

    Rows sorted by user (the contract) are counted in one chunked pass: within a period the user
    codes are then sorted, so distinct values are the changes between neighbours (carried across
    chunks). Other orders fall back to a pandas groupby.
    """
    if USER_ID not in df:
        return None
    u = df[USER_ID].to_numpy()
    codes = range(len(PERIODS))
    if u.dtype.kind not in "iu" or (len(u) > 1 and not _is_sorted(u, chunk_rows)):
        counts = pd.Series(u).groupby(period, sort=True).nunique()
        return {c: int(counts.get(c, 0)) for c in codes}
    users, last = dict.fromkeys(codes, 0), dict.fromkeys(codes)
    for a in range(0, len(u), chunk_rows):
        uc, pc = u[a : a + chunk_rows], period[a : a + chunk_rows]
        for c in codes:
            x = uc[pc == c]
            if len(x):
                new = last[c] is None or x[0] != last[c]
                users[c] += int(np.count_nonzero(x[1:] != x[:-1])) + int(new)
                last[c] = x[-1]
    return users


def _is_sorted(u: np.ndarray, chunk_rows: int) -> bool:
    for a in range(0, len(u) - 1, chunk_rows):
        seg = u[a : a + chunk_rows + 1]  # overlaps the next chunk by one row: every pair is checked
        if not (seg[1:] >= seg[:-1]).all():
            return False
    return True


def split_by_time(
    df: pd.DataFrame, cfg: SplitConfig, time_unit: str = "s", *, chunk_rows: int = _CHUNK_ROWS
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Add the PERIOD column (global time split) and summarise the split.

    Args:
        df: interactions with at least ``user_id`` and ``ts``; row order is kept.
        cfg: split parameters.
        time_unit: the schema's time unit; ISO strings are only reported for unix seconds ("s").
        chunk_rows: rows per vectorised step; bounds the temporary memory, never changes the result.

    Returns:
        ``(df_with_period, summary)``: a copy of ``df`` with ``period`` (int8, RETRIEVAL..TEST), and
        a dict with the boundaries (ints and ISO strings), the data's time range and rows / users
        per period.

    Raises:
        DataError: when the table is empty or a period ends up empty (the message names the period,
            the boundaries and the data's time range).
    """
    if len(df) == 0:
        raise DataError("split: the interactions table is empty", column=TS)
    chunk_rows = max(1, int(chunk_rows))
    ts = df[TS].to_numpy(dtype=np.int64)
    bounds = compute_boundaries(ts, cfg)
    edges = np.asarray(bounds, dtype=np.int64)
    period = np.empty(len(ts), dtype=np.int8)
    for a in range(0, len(ts), chunk_rows):
        period[a : a + chunk_rows] = np.searchsorted(edges, ts[a : a + chunk_rows], side="right")
    out = df.copy(deep=False)  # copy-on-write: adding a column leaves the input untouched
    out[PERIOD] = period

    names = list(PERIODS)
    rows = np.bincount(period, minlength=len(names))
    users = _users_per_period(df, period, chunk_rows)
    lo, hi = int(ts.min()), int(ts.max())
    keys = ("train_start", "valid_start", "test_start")
    summary: dict[str, Any] = {
        "mode": cfg.mode,
        "boundaries": dict(zip(keys, bounds, strict=True)),
        "boundaries_iso": {k: _iso(b, time_unit) for k, b in zip(keys, bounds, strict=True)},
        "time_range": [lo, hi],
        "time_range_iso": [_iso(lo, time_unit), _iso(hi, time_unit)],
        "rows": {n: int(rows[PERIODS[n]]) for n in names},
        "users": {n: users[PERIODS[n]] if users is not None else None for n in names},
    }
    empty = [n for n in names if rows[PERIODS[n]] == 0]
    if empty:
        b = ", ".join(
            f"{k}={v} ({summary['boundaries_iso'][k] or 'raw'})" for k, v in summary["boundaries"].items()
        )
        lo_iso, hi_iso = (x or "raw" for x in summary["time_range_iso"])
        rng = f"[{lo} ({lo_iso}), {hi} ({hi_iso})]"
        hint = (
            "set split.mode=quantiles (or move split.time_points inside the data)"
            if cfg.mode == "time_points"
            else "spread split.quantiles / split.valid_fraction, or check that the timestamps vary"
        )
        raise DataError(
            f"split: period '{empty[0]}' is empty; boundaries {b}; data time range {rng}; {hint}", column=TS
        )
    logger.info("split %s: rows %s", summary["boundaries_iso"], summary["rows"])
    return out, summary
