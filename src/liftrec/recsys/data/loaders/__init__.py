"""Raw loaders: one per official raw format, each producing the canonical interactions table.

``load_raw(dataset, raw_dir, cfg)`` reads the dataset's official files from ``raw_dir`` and returns
``(rows, schema)``: columns ``row_id`` (0..n-1), ``user_id`` (the user field's code), ``ts``
(int64 unix seconds), ``label`` (int8, all 1: every raw interaction is a positive), then one
int64 column per field, dense codes 1..n_f in ascending raw-value order with 0 = missing, each
field its own code space; sorted by (user, ts), ties in file order. Loaders never write anything.

Formats, default fields and the choices made are documented in ``docs/datasets.md``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from liftrec.recsys.config import check
from liftrec.recsys.data.loaders import alipay, lastfm, movielens, taobao, tmall
from liftrec.recsys.data.loaders._csv import require_file
from liftrec.recsys.data.loaders._encode import DatasetSpec, build_frame
from liftrec.recsys.data.loaders.config import LoaderConfig, parse_time_bound
from liftrec.recsys.errors import ConfigError, DataError
from liftrec.recsys.schema import Schema

__all__ = ["DATASETS", "LoaderConfig", "check_fields", "check_raw_dir", "dataset_spec", "load_raw"]

logger = logging.getLogger(__name__)

DATASETS: tuple[str, ...] = ("synthetic", "taobao", "tmall", "alipay", "ml-1m", "lastfm-1k", "ml-100k")

# "synthetic" is generated (liftrec.recsys.data.synthetic), not loaded: the Kedro layer dispatches it.
_LOADERS: dict[str, Any] = {
    "taobao": taobao,
    "tmall": tmall,
    "alipay": alipay,
    "ml-1m": movielens.ML1M,
    "lastfm-1k": lastfm,
    "ml-100k": movielens.ML100K,
}


def dataset_spec(dataset: str) -> DatasetSpec:
    """The fields a raw dataset offers (available, defaults, user/item sides, default query).

    Raises:
        ConfigError: for "synthetic" or an unknown name.
    """
    if dataset == "synthetic":
        raise ConfigError(
            "dataset 'synthetic' is generated, not loaded from raw files: use "
            "liftrec.recsys.data.synthetic.generate_synthetic"
        )
    if dataset not in _LOADERS:
        raise ConfigError(f"unknown dataset {dataset!r}; known datasets: {list(DATASETS)}")
    return _LOADERS[dataset].SPEC


def check_raw_dir(dataset: str, raw_dir: str | Path) -> None:
    """Fail at once, with where to get the files, when ``raw_dir`` lacks the dataset's main raw file.

    Raises:
        DataError: naming the folder, the expected file and the page that lists the official files.
    """
    loader = _LOADERS[dataset_spec(dataset).name]
    name = getattr(loader, "FILE", None) or loader.ratings
    try:
        require_file(Path(raw_dir), name)
    except DataError as e:
        raise DataError(
            f"{e}; download the official {dataset} files (docs/datasets.md lists them and where to get "
            f"them) into that folder, or point --params=raw_dir=<folder> at them"
        ) from None


def check_fields(dataset: str, cfg: LoaderConfig) -> None:
    """The ``ingest`` field and query-field lists against what the dataset offers, before any read.

    Raises:
        ConfigError: naming ``ingest.fields`` or ``ingest.query_fields``.
    """
    spec = dataset_spec(dataset)
    fields, _ = _resolve_fields(spec, cfg)
    if cfg.query_fields is not None:
        _resolve_query(spec, cfg, fields)


def _resolve_fields(spec: DatasetSpec, cfg: LoaderConfig) -> tuple[tuple[str, ...], bool]:
    if cfg.fields is None:
        return spec.default_fields, False
    unknown = [f for f in cfg.fields if f not in spec.available]
    check(
        not unknown,
        "ingest.fields",
        f"unknown field(s) {unknown} for {spec.name}; available: {list(spec.available)}",
    )
    for side, name in (("user", spec.user_field), ("item", spec.item_field)):
        check(name in cfg.fields, "ingest.fields", f"must include the {side} field '{name}' of {spec.name}")
    return tuple(cfg.fields), True


def _resolve_query(spec: DatasetSpec, cfg: LoaderConfig, fields: tuple[str, ...]) -> tuple[str, ...]:
    if cfg.query_fields is None:
        query = tuple(f for f in fields if f in spec.default_query)
        check(
            bool(query),
            "ingest.query_fields",
            f"none of the default query fields {spec.default_query} is in {fields}",
        )
        return query
    missing = [f for f in cfg.query_fields if f not in fields]
    check(not missing, "ingest.query_fields", f"{missing} not among the loaded fields {list(fields)}")
    return tuple(cfg.query_fields)


def load_raw(dataset: str, raw_dir: str | Path, cfg: LoaderConfig) -> tuple[pd.DataFrame, Schema]:
    """Load one raw dataset into the canonical interactions table.

    Args:
        dataset: one of ``DATASETS`` except "synthetic".
        raw_dir: folder holding the dataset's official files.
        cfg: field list, query fields, time window, block size.

    Returns:
        (rows, schema): the interactions sorted by (user, ts) and their schema.

    Raises:
        ConfigError: unknown dataset, unknown field, bad time bound.
        DataError: missing file, wrong separator or column count, non-numeric id or timestamp,
            unknown category value, empty file, naming the file, the line and the column.
    """
    spec = dataset_spec(dataset)
    fields, explicit = _resolve_fields(spec, cfg)
    if cfg.query_fields is not None:
        _resolve_query(spec, cfg, fields)  # fail before reading anything
    lo = parse_time_bound(cfg.ts_min, "ingest.ts_min")
    hi = parse_time_bound(cfg.ts_max, "ingest.ts_max")
    window = (spec.default_window[0] if lo is None else lo, spec.default_window[1] if hi is None else hi)
    if window[0] is not None and window[1] is not None:
        check(
            window[0] < window[1],
            "ingest.ts_max",
            f"time window [{window[0]}, {window[1]}) is empty (a bound left null takes {dataset}'s default "
            f"{list(spec.default_window)})",
        )
    ts, columns, fields, extra = _LOADERS[dataset].load(Path(raw_dir), fields, explicit, window, cfg)
    query = _resolve_query(spec, cfg, fields)
    extra = {"window": list(window), **extra}
    df, schema = build_frame(spec, fields, query, ts, columns, extra)
    schema.extra["duplicate_rows"] = count_repeated_rows(df, fields)
    return df, schema


def count_repeated_rows(df: pd.DataFrame, fields: tuple[str, ...]) -> int:
    """Rows identical to the row before them (same user, time and every field): kept, counted, logged.

    Every raw line is an interaction (PROTOCOL.md): a repeated line is a repeated event in the log
    (Taobao has them: the same page view twice in one second), so it stays; the count tells a user
    whose export duplicated lines. Rows are sorted by (user, ts), so repeats are neighbours. O(n).
    """
    if len(df) < 2:
        return 0
    same = np.ones(len(df) - 1, dtype=bool)
    for c in ("user_id", "ts", *fields):
        v = df[c].to_numpy()
        same &= v[1:] == v[:-1]
    n = int(same.sum())
    if n:
        share = 100 * n / len(df)
        logger.warning("ingestion: %d rows (%.2f %%) repeat the row before them exactly; kept", n, share)
    return n
