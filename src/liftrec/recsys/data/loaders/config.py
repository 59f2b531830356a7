"""Typed parameters of raw ingestion (``ingest`` in the Kedro parameters)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from liftrec.recsys.config import check
from liftrec.recsys.errors import ConfigError

# The IJCAI-15 "repeat buyers" logs cover the six months up to and including Double 11 (Nov 11) of
# 2014 (Liu et al., "Repeat Buyer Prediction for E-Commerce", KDD 2016): mmdd 0511..1111 of 2014.
TMALL_YEAR = 2014


def parse_time_bound(value: str | int | None, path: str) -> int | None:
    """Turn a time bound into unix seconds.

    Args:
        value: None, unix seconds (an int or a string of digits), or an ISO-8601 date-time with a
            UTC offset such as ``2017-11-25T00:00+08:00`` or ``2009-05-04T00:00:00Z``.
        path: dotted parameter path for error messages.

    Returns:
        Unix seconds, or None when ``value`` is None.

    Raises:
        ConfigError: when the value is not an integer nor an ISO-8601 time with an offset.
    """
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if not isinstance(value, str):
        raise ConfigError(f"parameter '{path}': expected ISO-8601 text or unix seconds, got {value!r}")
    text = value.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"parameter '{path}': {value!r} is neither unix seconds nor ISO-8601 "
            "(e.g. 2017-11-25T00:00+08:00)"
        ) from None
    check(
        moment.tzinfo is not None,
        path,
        f"{value!r} has no UTC offset; write e.g. '{text}+08:00' or '{text}Z'",
    )
    return int(moment.timestamp())


@dataclass(frozen=True)
class LoaderConfig:
    """How a raw dataset is turned into the canonical interactions table.

    Attributes:
        fields: categorical fields to produce, in column order; None = the dataset's default list
            (see ``docs/datasets.md``). Must contain the dataset's user and item fields.
        query_fields: fields forming the BM25 query; None = the dataset's default (PROTOCOL.md),
            restricted to ``fields``.
        ts_min: inclusive lower time bound (ISO-8601 with offset, or unix seconds); None = the
            dataset's default (Taobao: 2017-11-25T00:00+08:00; others: no bound).
        ts_max: exclusive upper time bound; None = the dataset's default (Taobao:
            2017-12-04T00:00+08:00; others: no bound).
        block_size: bytes per pyarrow CSV block (memory per block while streaming).
        tmall_year: year that turns Tmall's ``mmdd`` time stamps into dates (the IJCAI-15 data
            covers May 11 - Nov 11, 2014).
    """

    fields: tuple[str, ...] | None = None
    query_fields: tuple[str, ...] | None = None
    ts_min: str | int | None = None
    ts_max: str | int | None = None
    block_size: int = 64 << 20
    tmall_year: int = TMALL_YEAR

    def __post_init__(self) -> None:
        check(
            self.block_size >= 1 << 16,
            "ingest.block_size",
            f"must be at least 65536 bytes, got {self.block_size}",
        )
        check(
            self.block_size <= 1 << 30, "ingest.block_size", f"must be at most 1 GiB, got {self.block_size}"
        )
        check(1970 <= self.tmall_year <= 2100, "ingest.tmall_year", f"must be a year, got {self.tmall_year}")
        for name in ("fields", "query_fields"):
            value = getattr(self, name)
            if value is not None:
                check(len(value) > 0, f"ingest.{name}", "must not be empty (use null for the default)")
                dup = sorted({f for f in value if value.count(f) > 1})
                check(not dup, f"ingest.{name}", f"repeats {dup}")
        lo = parse_time_bound(self.ts_min, "ingest.ts_min")
        hi = parse_time_bound(self.ts_max, "ingest.ts_max")
        if lo is not None and hi is not None:
            check(
                lo < hi, "ingest.ts_max", f"must be later than ts_min ({self.ts_min!r}), got {self.ts_max!r}"
            )
