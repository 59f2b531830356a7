"""Streaming CSV reads with pyarrow, and bad-input errors that name the file, line and column.

pyarrow's streaming reader (``open_csv``) parses typed columns block by block in C++, but its
errors carry no line number ("Expected 5 columns, got 1", "CSV conversion error to int32: invalid
value 'x'"). On those error paths only, the culprit line is found again: field counts by a
vectorised byte scan of the file, bad values by re-reading the column as raw bytes and bisecting
the failing block with pyarrow casts. Quoting is off for every format here, so a data row is
exactly one non-empty line.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from liftrec.recsys.errors import DataError
from liftrec.recsys.progress import progress

logger = logging.getLogger(__name__)
NULL_VALUES = ("", "NULL", "null")  # what counts as a missing value in numeric columns
_SCAN_CHUNK = 1 << 24


@dataclass(frozen=True)
class CsvFormat:
    """Layout of one raw file.

    Attributes:
        columns: the file's column names in file order (its header when ``header`` is set).
        types: arrow type per column to read; columns not listed are skipped unparsed.
        delimiter: one-character separator. With ``double_sep`` the file's separator is this
            character twice (MovieLens ``::``): the reader then sees an empty column between fields.
        header: whether the first line is a header that must equal ``columns``.
        encoding: the file's text encoding (pyarrow transcodes to UTF-8).
        layout: one example line shown in messages, e.g. ``user_id,item_id,...``.
        expect: per column, what a valid value looks like (for messages).
    """

    columns: tuple[str, ...]
    types: dict[str, pa.DataType]
    delimiter: str = ","
    header: bool = False
    encoding: str = "utf8"
    double_sep: bool = False
    layout: str = ""
    expect: dict[str, str] = field(default_factory=dict)

    @property
    def n_fields(self) -> int:
        return (len(self.columns) + 1) // 2 if self.double_sep else len(self.columns)

    @property
    def sep_label(self) -> str:
        sep = self.delimiter * (2 if self.double_sep else 1)
        return {"\t": "a tab", ",": "','", "|": "'|'"}.get(sep, repr(sep))

    def select(self, names: list[str]) -> CsvFormat:
        """The same layout reading only ``names`` (all other columns skipped)."""
        return CsvFormat(
            self.columns,
            {n: self.types[n] for n in names},
            self.delimiter,
            self.header,
            self.encoding,
            self.double_sep,
            self.layout,
            self.expect,
        )

    def describe(self, column: str) -> str:
        if column in self.expect:
            return self.expect[column]
        t = self.types.get(column)
        if t is not None and pa.types.is_integer(t):
            return f"an integer ({t})"
        if t is not None and pa.types.is_timestamp(t):
            return "an ISO-8601 UTC time such as 2009-05-04T23:08:57Z"
        return "UTF-8 text"


def require_file(raw_dir: Path, name: str) -> Path:
    """Return ``raw_dir / name``, or raise a DataError naming the expected file and the folder."""
    if not raw_dir.is_dir():
        raise DataError(f"raw data folder not found (expected it to hold '{name}')", path=str(raw_dir))
    path = raw_dir / name
    if not path.is_file():
        present = sorted(p.name for p in raw_dir.iterdir())[:10]
        raise DataError(
            f"expected file '{name}' in folder '{raw_dir}', not found (the folder holds {present})",
            path=str(path),
        )
    return path


def first_line(path: Path, encoding: str = "utf8") -> str | None:
    """The first line of a file without its line break and BOM, or None when the file is empty."""
    with open(path, "rb") as f:
        raw = f.readline(1 << 20)
    if not raw:
        return None
    return raw.decode(encoding, errors="replace").lstrip("\ufeff").rstrip("\r\n")


class Locator:
    """Turns a 0-based data-row index of one file into a DataError naming its 1-based line."""

    def __init__(self, path: Path, fmt: CsvFormat) -> None:
        self.path, self.fmt = path, fmt

    def line_of_row(self, row: int) -> int | None:
        skip = 1 if self.fmt.header else 0
        seen = 0
        for line0, lengths, _ in _scan_lines(self.path, self.fmt.delimiter):
            numbers = line0 + np.arange(lengths.size)
            cum = np.cumsum((lengths > 0) & (numbers > skip))
            if cum.size and seen + cum[-1] > row:
                return int(numbers[np.searchsorted(cum, row - seen + 1)])
            seen += int(cum[-1]) if cum.size else 0
        return None

    def error(self, row: int, column: str | None, message: str) -> DataError:
        return DataError(message, path=str(self.path), line=self.line_of_row(row), column=column)

    def first_null(self, batch: pa.RecordBatch, first_row: int, columns: list[str]) -> None:
        """Raise on the first missing value of ``columns`` in ``batch`` (rows from ``first_row``)."""
        for name in columns:
            col = batch.column(name)
            if col.null_count:
                i = int(np.argmax(pc.is_null(col).to_numpy(zero_copy_only=False)))
                raise self.error(first_row + i, name, f"missing value; expected {self.fmt.describe(name)}")


def iter_batches(
    path: Path, fmt: CsvFormat, block_size: int, desc: str | None = None
) -> Iterator[tuple[pa.RecordBatch, int]]:
    """Stream a raw file as typed record batches.

    With ``desc``, a progress bar over the file's bytes shows rows/s (see ``liftrec.recsys.progress``)
    and a summary line is logged at the end. pyarrow reads ahead, so the file position says little;
    the streaming reader yields one batch per ``block_size`` block, so bytes read are counted as
    blocks x ``block_size`` (capped at the file size).

    Args:
        path: the file.
        fmt: its layout; only ``fmt.types``' columns are parsed.
        block_size: bytes per block.
        desc: label of the progress bar and summary line; None shows neither.

    Yields:
        (batch, 0-based index of the batch's first data row).

    Raises:
        DataError: empty file, wrong header, wrong field count or unparsable value, naming the line.
    """
    head = first_line(path, fmt.encoding)
    if head is None or (not head.strip() and path.stat().st_size <= 2):
        raise DataError(f"file is empty; expected lines like '{fmt.layout}'", path=str(path))
    if fmt.header:
        expected = fmt.delimiter.join(fmt.columns)
        if head.strip() != expected:
            hint = f" (wrong separator? expected {fmt.sep_label})" if fmt.delimiter not in head else ""
            raise DataError(
                f"expected the header '{expected}', got '{head[:200]}'{hint}", path=str(path), line=1
            )
    read = pacsv.ReadOptions(
        column_names=list(fmt.columns),
        skip_rows=1 if fmt.header else 0,
        block_size=block_size,
        encoding=fmt.encoding,
    )
    parse = pacsv.ParseOptions(delimiter=fmt.delimiter, quote_char=False)
    convert = pacsv.ConvertOptions(
        column_types=fmt.types,
        include_columns=list(fmt.types),
        null_values=list(NULL_VALUES),
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    rows, done = 0, False
    size = path.stat().st_size
    bar = progress(size, desc or "", "B", enabled=None if desc else False, log=logger if desc else None,
                   unit_scale=True)  # fmt: skip
    try:
        reader = pacsv.open_csv(path, read_options=read, parse_options=parse, convert_options=convert)
        for batch in reader:
            bar.update(min(block_size, size - bar.n))
            if batch.num_rows:
                yield batch, rows
                rows += batch.num_rows
                bar.set_postfix(rows=f"{rows:,}", rows_per_s=f"{rows / max(bar.elapsed, 1e-9):,.0f}")
        bar.update(size - bar.n)
        done = True
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise _diagnose(path, fmt, str(exc)) from None
    finally:  # also when the consumer stops early: the bar never outlives the read
        summary = f"{rows:,} rows, {rows / max(bar.elapsed, 1e-9):,.0f} rows/s"
        bar.close(summary if done else None, failed=not done)
    if rows == 0:
        raise DataError(f"file has no data rows; expected lines like '{fmt.layout}'", path=str(path))


def shorten(text: str, limit: int = 60) -> str:
    """``text`` cut to ``limit`` characters, saying how long it was (a 5 MB field must not flood a log)."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def _diagnose(path: Path, fmt: CsvFormat, message: str) -> DataError:
    """Build the DataError for a pyarrow failure, finding the culprit line on this error path only."""
    if "Empty CSV file" in message:
        return DataError(f"file is empty; expected lines like '{fmt.layout}'", path=str(path))
    if re.search(r"Expected \d+ columns, got \d+", message):
        line, got = _find_bad_field_count(path, fmt)
        got_fields = (got + 1) // 2 if fmt.double_sep and got is not None else got
        hint = ""
        if got_fields == 1:
            hint = f" (wrong separator? the fields must be separated by {fmt.sep_label})"
        return DataError(
            f"expected {fmt.n_fields} fields separated by {fmt.sep_label} ('{fmt.layout}'), "
            f"got {got_fields}{hint}",
            path=str(path),
            line=line,
        )
    m = re.search(r"In CSV column #(\d+)", message)
    if m and int(m.group(1)) < len(fmt.columns):
        column = fmt.columns[int(m.group(1))]
        row, value = _find_bad_value(path, fmt, column)
        loc = Locator(path, fmt)
        line = loc.line_of_row(row) if row is not None else None
        shown = f"got {shorten(value)!r}" if value is not None else f"({shorten(message, 200)})"
        return DataError(
            f"expected {fmt.describe(column)}, {shown}", path=str(path), line=line, column=column
        )
    return DataError(f"cannot parse the file ({message}); expected lines like '{fmt.layout}'", path=str(path))


def _scan_lines(path: Path, delimiter: str) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Yield (1-based number of the chunk's first line, content length per line, separators per line)."""
    sep = ord(delimiter)
    line0, carry = 1, b""
    with open(path, "rb") as f:
        while True:
            data = f.read(_SCAN_CHUNK)
            buf = carry + data
            if not data:
                if buf:  # a last line without a line break
                    arr = np.frombuffer(buf, np.uint8)
                    yield (
                        line0,
                        np.array([arr.size - int(arr[-1] == 13)]),
                        np.array([np.count_nonzero(arr == sep)]),
                    )
                return
            arr = np.frombuffer(buf, np.uint8)
            breaks = np.flatnonzero(arr == 10)
            if breaks.size == 0:
                carry = buf
                continue
            starts = np.concatenate(([0], breaks[:-1] + 1))
            counts = np.concatenate(([0], np.cumsum(arr[: breaks[-1]] == sep)))
            lengths = breaks - starts
            lengths -= (lengths > 0) & (arr[np.maximum(breaks - 1, 0)] == 13)  # CRLF
            yield line0, lengths, counts[breaks] - counts[starts]
            line0 += breaks.size
            carry = buf[breaks[-1] + 1 :]


def _find_bad_field_count(path: Path, fmt: CsvFormat) -> tuple[int | None, int | None]:
    skip = 1 if fmt.header else 0
    for line0, lengths, seps in _scan_lines(path, fmt.delimiter):
        numbers = line0 + np.arange(lengths.size)
        bad = (lengths > 0) & (numbers > skip) & (seps != len(fmt.columns) - 1)
        if bad.any():
            i = int(np.argmax(bad))
            return int(numbers[i]), int(seps[i]) + 1
    return None, None


def _converts(values: pa.Array, target: pa.DataType) -> bool:
    """Whether raw bytes convert to ``target`` the way the CSV reader converts them."""
    try:
        text = pc.cast(values, pa.string())
        if not pa.types.is_string(target):
            text = pc.utf8_trim_whitespace(text)
            text = pc.if_else(pc.is_in(text, pa.array(NULL_VALUES)), pa.scalar(None, pa.string()), text)
            pc.cast(text, target)
        return True
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False


def _find_bad_value(path: Path, fmt: CsvFormat, column: str) -> tuple[int | None, str | None]:
    """Re-read ``column`` as bytes and bisect the first block that fails to convert."""
    raw_fmt = CsvFormat(fmt.columns, {column: pa.binary()}, fmt.delimiter, fmt.header, fmt.encoding)
    target = fmt.types[column]
    try:
        for batch, first in iter_batches(path, raw_fmt, 1 << 22):
            values = batch.column(0)
            if _converts(values, target):
                continue
            lo, hi = 0, len(values)  # values[:lo] converts, values[:hi] does not
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if _converts(values.slice(0, mid), target):
                    lo = mid
                else:
                    hi = mid
            return first + lo, values[lo].as_py().decode("utf8", errors="backslashreplace")
    except DataError:
        pass
    return None, None
