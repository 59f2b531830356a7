"""Block-wise collection of a raw log: validate, derive, filter by time and keep compact columns.

Each loader supplies a ``derive(batch, first_row)`` function that turns one typed pyarrow batch
into named output arrays (numpy integers, or arrow strings for text keys) plus ``ts`` (int64 unix
seconds). :func:`collect` applies the time window per block, so rows outside it never accumulate,
dictionary-encodes text columns per block (a block keeps only its distinct strings), and
concatenates the numeric columns once at the end.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from liftrec.recsys.data.loaders._csv import CsvFormat, Locator, iter_batches

logger = logging.getLogger(__name__)

MISSING_INT = np.iinfo(np.int32).min  # stands for an empty value in nullable integer id columns
Derived = dict[str, "np.ndarray | pa.Array"]


@dataclass
class Collected:
    """Columns of a raw log after the time window, in file order.

    Attributes:
        ts: int64 unix seconds per kept row.
        numeric: name -> numpy integer array (raw ids, vocabulary indices, ``MISSING_INT`` = empty).
        text: name -> list of per-block ``DictionaryArray`` chunks (null = missing).
        rows_read: data rows in the file.
    """

    ts: np.ndarray
    numeric: dict[str, np.ndarray]
    text: dict[str, list[pa.Array]]
    rows_read: int

    @property
    def rows(self) -> int:
        return int(self.ts.size)


# Unix seconds of any interaction log: 1990-01-01 .. 2100-01-01. Outside, the unit is wrong.
PLAUSIBLE_TS = (631_152_000, 4_102_444_800)


def check_plausible(out: Derived, first: int, loc: Locator) -> None:
    """Raise on the first implausible value of a derived block: a timestamp outside 1990-2100 (with the
    likely unit when it is milliseconds or microseconds) or a negative id where ids are positive.

    Raises:
        DataError: naming the file, the line and the column.
    """
    ts = np.asarray(out["ts"])
    lo, hi = PLAUSIBLE_TS
    bad = (ts < lo) | (ts >= hi)
    if bad.any():
        i = int(np.argmax(bad))
        value = int(ts[i])
        unit = next((u for u, f in (("milliseconds", 1e3), ("microseconds", 1e6), ("nanoseconds", 1e9))
                     if lo <= value / f < hi), None)  # fmt: skip
        hint = f"; it looks like {unit}: the format says unix seconds" if unit else ""
        raise loc.error(first + i, "ts", f"timestamp {value} is outside 1990-2100 in unix seconds{hint}")
    for name, values in out.items():
        if name == "ts" or not isinstance(values, np.ndarray) or values.dtype.kind not in "iu":
            continue
        neg = (values < 0) & (values != MISSING_INT)
        if neg.any():
            i = int(np.argmax(neg))
            raise loc.error(
                first + i, name, f"negative {name} id {int(values[i])}; the format's ids are >= 0"
            )


def window_mask(ts: np.ndarray, window: tuple[int | None, int | None]) -> np.ndarray | None:
    """Boolean mask of ``lo <= ts < hi``, or None when every row is inside."""
    lo, hi = window
    mask = None
    if lo is not None:
        mask = ts >= lo
    if hi is not None:
        mask = ts < hi if mask is None else mask & (ts < hi)
    return None if mask is None or mask.all() else mask


def collect(
    path: Path,
    fmt: CsvFormat,
    block_size: int,
    window: tuple[int | None, int | None],
    derive: Callable[[pa.RecordBatch, int, Locator], Derived],
    required: list[str],
) -> Collected:
    """Stream ``path`` and keep the derived columns of rows inside ``window``.

    Shows a progress bar over the file's bytes with rows/s when interactive, and logs a summary
    line (see :func:`~liftrec.recsys.data.loaders._csv.iter_batches`).

    Args:
        path: the raw file.
        fmt: its layout (only ``fmt.types``' columns are parsed).
        block_size: bytes per pyarrow block.
        window: (inclusive lower, exclusive upper) unix-second bounds, None = open.
        derive: (batch, first row index, locator) -> named arrays including ``ts``.
        required: columns that may not be empty.

    Returns:
        The kept columns.
    """
    loc = Locator(path, fmt)
    ts_parts: list[np.ndarray] = []
    numeric: dict[str, list[np.ndarray]] = {}
    text: dict[str, list[pa.Array]] = {}
    rows_read = 0
    for batch, first in iter_batches(path, fmt, block_size, desc=f"read {path.name}"):
        loc.first_null(batch, first, required)
        out = derive(batch, first, loc)
        del batch
        check_plausible(out, first, loc)  # before the time window, which would drop such rows silently
        rows_read += len(out["ts"])
        mask = window_mask(out["ts"], window)
        arrow_mask = None if mask is None else pa.array(mask)
        for name, values in out.items():
            if isinstance(values, np.ndarray):
                kept = values if mask is None else values[mask]
                (ts_parts if name == "ts" else numeric.setdefault(name, [])).append(kept)
            else:
                kept = values if arrow_mask is None else values.filter(arrow_mask)
                text.setdefault(name, []).append(pc.dictionary_encode(kept))
        del out
    collected = Collected(
        ts=np.concatenate(ts_parts),
        numeric={},
        text=text,
        rows_read=rows_read,
    )
    del ts_parts
    for name in list(numeric):
        collected.numeric[name] = np.concatenate(numeric.pop(name))  # one column at a time: low peak
    # Arrow's allocator keeps freed block buffers for reuse; hand them back before the encoding phase.
    pa.default_memory_pool().release_unused()
    return collected


def vocab_codes(
    values: pa.Array, vocab: tuple[str, ...], first: int, column: str, loc: Locator
) -> np.ndarray:
    """1-based index of each value in ``vocab`` (int8); an unknown value raises naming its line."""
    idx = pc.index_in(values, value_set=pa.array(vocab))
    if idx.null_count:
        i = int(np.argmax(pc.is_null(idx).to_numpy(zero_copy_only=False)))
        raise loc.error(
            first + i, column, f"unknown category value {values[i].as_py()!r}; allowed: {list(vocab)}"
        )
    return (idx.to_numpy() + 1).astype(np.int8)


def check_allowed(
    values: np.ndarray, allowed: tuple[int, ...], first: int, column: str, loc: Locator
) -> None:
    """Raise on the first value of ``values`` not in ``allowed``, naming its line."""
    bad = ~np.isin(values, allowed)
    if bad.any():
        i = int(np.argmax(bad))
        raise loc.error(
            first + i, column, f"unknown category value {int(values[i])}; allowed: {list(allowed)}"
        )


def int_column(batch: pa.RecordBatch, name: str, dtype: type = np.int32) -> np.ndarray:
    """A batch column as numpy; empty values become ``MISSING_INT``."""
    col = batch.column(name)
    if col.null_count:
        col = col.fill_null(MISSING_INT)
    return col.to_numpy().astype(dtype, copy=False)


def day_ts(
    year: np.ndarray,
    month: np.ndarray,
    day: np.ndarray,
    first: int,
    column: str,
    loc: Locator,
    what: str,
    utc_offset_s: int = 8 * 3600,
) -> np.ndarray:
    """Unix seconds of local midnight of each (year, month, day); an impossible date raises naming its line.

    The Alibaba logs (Tmall, Alipay) give dates only; they are local dates in China (UTC+8).
    """
    m = np.clip(month, 1, 12).astype("int64")
    first_of_month = ((year.astype("int64") - 1970) * 12 + m - 1).astype("datetime64[M]")
    start = first_of_month.astype("datetime64[D]")
    days_in_month = ((first_of_month + 1).astype("datetime64[D]") - start).astype(np.int64)
    bad = (month < 1) | (month > 12) | (day < 1) | (day > days_in_month)
    if bad.any():
        i = int(np.argmax(bad))
        raise loc.error(
            first + i, column, f"not a valid date ({what}): month {int(month[i])}, day {int(day[i])}"
        )
    days = start.astype(np.int64) + (day.astype(np.int64) - 1)
    return days * 86400 - utc_offset_s


def date_context(month: np.ndarray, day: np.ndarray, fields: tuple[str, ...]) -> dict[str, np.ndarray]:
    """UBR4CTR's date context fields, for the requested ones among ``half_month`` and ``season``.

    ``half_month``: 1 = days 1-15, 2 = days 16-31 (UBR4CTR's "ud"); ``season``: quarter 1..4 of the
    month (UBR4CTR's "season").
    """
    out = {}
    if "half_month" in fields:
        out["half_month"] = np.where(day <= 15, 1, 2).astype(np.int8)
    if "season" in fields:
        out["season"] = ((month - 1) // 3 + 1).astype(np.int8)
    return out
