"""Tmall IJCAI-15 repeat buyers (Alibaba Tianchi dataset 42): ``user_log_format1.csv``.

Header ``user_id,item_id,cat_id,seller_id,brand_id,time_stamp,action_type``; ``brand_id`` may be
empty (code 0); ``time_stamp`` is month and day (``829`` or ``0829`` = Aug 29) of ``tmall_year``
(2014: the logs cover the six months up to Double 11, 2014), turned into local midnight, UTC+8;
``action_type`` 0 = click, 1 = cart, 2 = buy, 3 = fav. ``user_info_format1.csv``
(``user_id,age_range,gender``) adds the profile fields when present; age_range 0 and gender 2 mean
"unknown" in the official description and get code 0 like empty values. When the profile file is
absent and the field list is the default, age_range and gender are dropped with a warning.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pyarrow as pa

from liftrec.recsys.data.loaders._blocks import (
    MISSING_INT,
    check_allowed,
    collect,
    date_context,
    day_ts,
    int_column,
)
from liftrec.recsys.data.loaders._csv import CsvFormat, Locator, iter_batches, require_file
from liftrec.recsys.data.loaders._encode import DatasetSpec, Encoded, int_codes, join_side
from liftrec.recsys.data.loaders.config import LoaderConfig

logger = logging.getLogger(__name__)

FILE = "user_log_format1.csv"
PROFILE = "user_info_format1.csv"
ACTIONS = (0, 1, 2, 3)  # click, cart, buy, fav
AGE_RANGES = tuple(range(9))  # 0 = unknown, 1 = <18, 2 = 18-24, ..., 7 and 8 = 50+
GENDERS = (0, 1, 2)  # 0 = female, 1 = male, 2 = unknown

SPEC = DatasetSpec(
    name="tmall",
    available=(
        "user",
        "item",
        "category",
        "seller",
        "brand",
        "action",
        "age_range",
        "gender",
        "half_month",
        "season",
    ),
    default_fields=(
        "user",
        "item",
        "category",
        "seller",
        "brand",
        "action",
        "age_range",
        "gender",
        "half_month",
    ),
    user_fields=("user", "age_range", "gender"),
    item_fields=("item", "category", "seller", "brand"),
    user_field="user",
    item_field="item",
    default_query=("user", "item", "category", "seller", "brand"),
    profile_fields=("age_range", "gender"),
)

FORMAT = CsvFormat(
    columns=("user_id", "item_id", "cat_id", "seller_id", "brand_id", "time_stamp", "action_type"),
    types={
        c: pa.int32()
        for c in ("user_id", "item_id", "cat_id", "seller_id", "brand_id", "time_stamp", "action_type")
    },
    header=True,
    layout="user_id,item_id,cat_id,seller_id,brand_id,time_stamp,action_type "
    "(e.g. 328862,323294,833,2882,2661,829,0)",
    expect={"time_stamp": "a month-day number mmdd such as 829 or 1111"},
)
PROFILE_FORMAT = CsvFormat(
    columns=("user_id", "age_range", "gender"),
    types={c: pa.int32() for c in ("user_id", "age_range", "gender")},
    header=True,
    layout="user_id,age_range,gender (e.g. 376517,6,1)",
)
_COLUMN = {
    "user": "user_id",
    "item": "item_id",
    "category": "cat_id",
    "seller": "seller_id",
    "brand": "brand_id",
    "action": "action_type",
}


def load(
    raw_dir: Path,
    fields: tuple[str, ...],
    explicit: bool,
    window: tuple[int | None, int | None],
    cfg: LoaderConfig,
) -> tuple[np.ndarray, dict[str, Encoded], tuple[str, ...], dict]:
    """Read the Tmall log (and profile); see :func:`liftrec.recsys.data.loaders.load_raw`."""
    path = require_file(raw_dir, FILE)
    extra: dict = {"files": [FILE]}
    wanted = [f for f in fields if f in SPEC.profile_fields]
    if wanted and not (raw_dir / PROFILE).is_file():
        if explicit:
            require_file(raw_dir, PROFILE)
        logger.warning("tmall: %s not found in %s; dropping the profile fields %s", PROFILE, raw_dir, wanted)
        fields = tuple(f for f in fields if f not in wanted)
        extra["dropped_fields"], wanted = wanted, []
    log_fields = [f for f in fields if f in _COLUMN]
    names = [_COLUMN[f] for f in log_fields] + ["time_stamp"]
    year = cfg.tmall_year

    def derive(batch: pa.RecordBatch, first: int, loc: Locator) -> dict:
        mmdd = batch.column("time_stamp").to_numpy()
        month, day = mmdd // 100, mmdd % 100
        out: dict = {
            "ts": day_ts(np.full(mmdd.size, year), month, day, first, "time_stamp", loc, f"mmdd of {year}")
        }
        for f in log_fields:
            out[f] = int_column(batch, _COLUMN[f])
        if "action" in out:
            check_allowed(out["action"], ACTIONS, first, "action_type", loc)
            out["action"] = out["action"].astype(np.int8)
        out.update(date_context(month, day, fields))
        return out

    required = [n for n in names if n != "brand_id"]
    got = collect(path, FORMAT.select(names), cfg.block_size, window, derive, required)
    extra.update(raw_rows=got.rows_read, rows_outside_window=got.rows_read - got.rows)
    columns: dict[str, Encoded] = {}
    user_uniques = None
    for f in fields:
        if f in wanted:
            continue
        values = got.numeric.pop(f)
        codes, uniques = int_codes(values, values == MISSING_INT if f == "brand" else None)
        columns[f] = (codes, uniques.size + 1)
        if f == "user":
            user_uniques = uniques
    if wanted:
        extra["files"].append(PROFILE)
        columns.update(_profile(raw_dir / PROFILE, wanted, user_uniques, columns["user"][0], cfg.block_size))
    return got.ts, columns, fields, extra


def _profile(
    path: Path, wanted: list[str], user_uniques: np.ndarray, user_codes: np.ndarray, block_size: int
) -> dict[str, Encoded]:
    """Join age_range / gender through the user id; unknown (0 / 2) and empty values get code 0."""
    parts: dict[str, list[np.ndarray]] = {c: [] for c in PROFILE_FORMAT.columns}
    loc = Locator(path, PROFILE_FORMAT)
    for batch, first in iter_batches(path, PROFILE_FORMAT, block_size):
        loc.first_null(batch, first, ["user_id"])
        for c in PROFILE_FORMAT.columns:
            values = int_column(batch, c)
            if c != "user_id":
                ok = values != MISSING_INT
                check_allowed(
                    np.where(ok, values, 0), AGE_RANGES if c == "age_range" else GENDERS, first, c, loc
                )
            parts[c].append(values)
    cols = {c: np.concatenate(v) for c, v in parts.items()}
    unknown = {"age_range": 0, "gender": 2}
    out = {}
    for f in wanted:
        values = cols[f].astype(object)
        values[(cols[f] == MISSING_INT) | (cols[f] == unknown[f])] = None
        out[f] = join_side(user_uniques, user_codes, cols["user_id"], values, f"tmall {f}")
    return out
