"""Alipay / Taobao IJCAI-16 brick-and-mortar (Alibaba Tianchi dataset 53): ``ijcai2016_taobao.csv``.

Header ``use_ID,sel_ID,ite_ID,cat_ID,act_ID,time``; ``act_ID`` 0 = click, 1 = buy; ``time`` is a
date ``YYYYMMDD`` (2015-07-01 .. 2015-11-30), turned into local midnight, UTC+8. The default
fields are RIM's five plus UBR4CTR's half-of-month context field (the LIFT paper's 6).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from liftrec.recsys.data.loaders._blocks import check_allowed, collect, date_context, day_ts, int_column
from liftrec.recsys.data.loaders._csv import CsvFormat, Locator, require_file
from liftrec.recsys.data.loaders._encode import DatasetSpec, Encoded, int_codes
from liftrec.recsys.data.loaders.config import LoaderConfig

FILE = "ijcai2016_taobao.csv"
ACTIONS = (0, 1)  # click, buy

SPEC = DatasetSpec(
    name="alipay",
    available=("user", "seller", "item", "category", "action", "half_month", "season"),
    default_fields=("user", "seller", "item", "category", "action", "half_month"),
    user_fields=("user",),
    item_fields=("seller", "item", "category"),
    user_field="user",
    item_field="item",
    default_query=("user", "seller", "item", "category"),
)

FORMAT = CsvFormat(
    columns=("use_ID", "sel_ID", "ite_ID", "cat_ID", "act_ID", "time"),
    types={c: pa.int32() for c in ("use_ID", "sel_ID", "ite_ID", "cat_ID", "act_ID", "time")},
    header=True,
    layout="use_ID,sel_ID,ite_ID,cat_ID,act_ID,time (e.g. 141,1,1,1,0,20151101)",
    expect={"time": "a date YYYYMMDD such as 20151101"},
)
_COLUMN = {"user": "use_ID", "seller": "sel_ID", "item": "ite_ID", "category": "cat_ID", "action": "act_ID"}


def load(
    raw_dir: Path,
    fields: tuple[str, ...],
    explicit: bool,
    window: tuple[int | None, int | None],
    cfg: LoaderConfig,
) -> tuple[np.ndarray, dict[str, Encoded], tuple[str, ...], dict]:
    """Read the Alipay log; see :func:`liftrec.recsys.data.loaders.load_raw`."""
    path = require_file(raw_dir, FILE)
    log_fields = [f for f in fields if f in _COLUMN]
    names = [_COLUMN[f] for f in log_fields] + ["time"]

    def derive(batch: pa.RecordBatch, first: int, loc: Locator) -> dict:
        date = batch.column("time").to_numpy()
        year, month, day = date // 10000, date // 100 % 100, date % 100
        out: dict = {"ts": day_ts(year, month, day, first, "time", loc, "YYYYMMDD")}
        for f in log_fields:
            out[f] = int_column(batch, _COLUMN[f])
        if "action" in out:
            check_allowed(out["action"], ACTIONS, first, "act_ID", loc)
            out["action"] = out["action"].astype(np.int8)
        out.update(date_context(month, day, fields))
        return out

    got = collect(path, FORMAT.select(names), cfg.block_size, window, derive, required=names)
    columns: dict[str, Encoded] = {}
    for f in fields:
        codes, uniques = int_codes(got.numeric.pop(f))
        columns[f] = (codes, uniques.size + 1)
    extra = {"files": [FILE], "raw_rows": got.rows_read, "rows_outside_window": got.rows_read - got.rows}
    return got.ts, columns, fields, extra
