"""Taobao UserBehavior (Alibaba Tianchi dataset 649): ``UserBehavior.csv``.

No header; ``user_id,item_id,category_id,behavior_type,timestamp`` with behaviour in
{pv, buy, cart, fav} and unix-second timestamps. About 100 M rows / 3.7 GB: the file is streamed
in blocks with int32 ids, the behaviour is encoded per block, and rows outside the default
9-day window (2017-11-25 .. 2017-12-03, UTC+8, the usual practice: the raw file holds stray
timestamps) are dropped per block.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pyarrow as pa

from liftrec.recsys.data.loaders._blocks import collect, vocab_codes
from liftrec.recsys.data.loaders._csv import CsvFormat, Locator, require_file
from liftrec.recsys.data.loaders._encode import DatasetSpec, Encoded, int_codes
from liftrec.recsys.data.loaders.config import LoaderConfig

logger = logging.getLogger(__name__)

FILE = "UserBehavior.csv"
BEHAVIORS = ("pv", "buy", "cart", "fav")  # codes 1..4 in this order when all occur
WINDOW = (1511539200, 1512316800)  # [2017-11-25T00:00+08:00, 2017-12-04T00:00+08:00)

SPEC = DatasetSpec(
    name="taobao",
    available=("user", "item", "category", "behavior"),
    default_fields=("user", "item", "category", "behavior"),
    user_fields=("user",),
    item_fields=("item", "category"),
    user_field="user",
    item_field="item",
    default_query=("user", "item", "category"),
    default_window=WINDOW,
)

FORMAT = CsvFormat(
    columns=("user_id", "item_id", "category_id", "behavior_type", "timestamp"),
    types={
        "user_id": pa.int32(),
        "item_id": pa.int32(),
        "category_id": pa.int32(),
        "behavior_type": pa.string(),
        "timestamp": pa.int64(),
    },
    layout="user_id,item_id,category_id,behavior_type,timestamp (e.g. 1,2268318,2520377,pv,1511544070)",
    expect={"timestamp": "integer unix seconds"},
)
_COLUMN = {"user": "user_id", "item": "item_id", "category": "category_id", "behavior": "behavior_type"}


def load(
    raw_dir: Path,
    fields: tuple[str, ...],
    explicit: bool,
    window: tuple[int | None, int | None],
    cfg: LoaderConfig,
) -> tuple[np.ndarray, dict[str, Encoded], tuple[str, ...], dict]:
    """Read ``UserBehavior.csv``; see :func:`liftrec.recsys.data.loaders.load_raw`."""
    path = require_file(raw_dir, FILE)
    names = [_COLUMN[f] for f in fields] + ["timestamp"]
    fmt = FORMAT.select(names)

    def derive(batch: pa.RecordBatch, first: int, loc: Locator) -> dict:
        out: dict = {"ts": batch.column("timestamp").to_numpy()}
        for f in fields:
            col = batch.column(_COLUMN[f])
            out[f] = (
                vocab_codes(col, BEHAVIORS, first, _COLUMN[f], loc) if f == "behavior" else col.to_numpy()
            )
        return out

    got = collect(path, fmt, cfg.block_size, window, derive, required=names)
    dropped = got.rows_read - got.rows
    if dropped:
        logger.info(
            "taobao: dropped %d of %d rows outside the time window %s", dropped, got.rows_read, window
        )
    columns: dict[str, Encoded] = {}
    extra: dict = {"files": [FILE], "raw_rows": got.rows_read, "rows_outside_window": dropped}
    for f in fields:
        codes, uniques = int_codes(got.numeric.pop(f))
        columns[f] = (codes, uniques.size + 1)
        if f == "behavior":  # which code means which behaviour, for readers of the table
            extra["behavior_codes"] = {BEHAVIORS[int(v) - 1]: k + 1 for k, v in enumerate(uniques)}
    return got.ts, columns, fields, extra
