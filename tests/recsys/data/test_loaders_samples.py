"""Raw loaders on the real public samples in ../shared/data (skipped when the folder is absent)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from liftrec.recsys.data.loaders import LoaderConfig, load_raw
from liftrec.recsys.schema import TS, USER_ID

TAOBAO_WINDOW = (1511539200, 1512316800)


def test_ml100k_complete(shared_data, contract):
    raw = shared_data("ml-100k")
    df, schema = load_raw("ml-100k", raw, LoaderConfig())
    contract(df, schema)
    assert len(df) == 100_000
    card = dict(zip(schema.fields, schema.cardinalities, strict=True))
    assert schema.fields == ("user", "item", "gender", "age", "occupation", "zip", "genre")
    assert card["user"] == 944 and card["item"] == 1683 and card["gender"] == 3
    assert card["occupation"] == 22 and card["genre"] == 19  # 21 occupations; 18 genres + missing
    # Independent check: the rows are u.data stably sorted by (user, ts), ids coded in ascending order.
    ref = pd.read_csv(raw / "u.data", sep="\t", names=["u", "i", "r", "t"])
    ref = ref.iloc[np.lexsort((ref["t"].to_numpy(), ref["u"].to_numpy()))]
    np.testing.assert_array_equal(df["user"].to_numpy(), pd.factorize(ref["u"], sort=True)[0] + 1)
    np.testing.assert_array_equal(df["item"].to_numpy(), pd.factorize(ref["i"], sort=True)[0] + 1)
    np.testing.assert_array_equal(df[TS].to_numpy(), ref["t"].to_numpy())
    # Item 1 (Toy Story) is Animation|Children's|Comedy: first genre Animation (3rd genre code).
    assert set(df.loc[df["item"] == 1, "genre"]) == {3}
    assert schema.query_fields == ("user", "item", "age", "occupation", "zip", "genre")


def test_ml1m_users_1_to_20(shared_data, contract):
    raw = shared_data("ml-1m")
    df, schema = load_raw("ml-1m", raw, LoaderConfig())
    contract(df, schema)
    assert len(df) == 2_524
    card = dict(zip(schema.fields, schema.cardinalities, strict=True))
    users = [line.split("::") for line in (raw / "users.dat").read_text("latin-1").splitlines()[:20]]
    assert card["user"] == 21 and card["gender"] == 3
    assert card["zip"] == len({u[4] for u in users}) + 1 and card["age"] == len({u[2] for u in users}) + 1
    assert np.bincount(df[USER_ID])[[1, 10, 20]].tolist() == [53, 401, 24]  # per-user counts (SOURCE.md)
    assert (df.loc[df[USER_ID] == 1, "gender"] == 1).all()  # user 1 is F; codes: F=1, M=2
    assert (df["genre"] > 0).all()  # every movie of ml-1m has a genre


def test_taobao_head_and_tail(shared_data, contract, caplog):
    for sub, raw_rows, users in (("taobao/head", 4_321, 43), ("taobao/tail", 10_000, 114)):
        with caplog.at_level(logging.INFO):
            df, schema = load_raw("taobao", shared_data(sub), LoaderConfig())
        contract(df, schema)
        dropped = schema.extra["rows_outside_window"]
        assert dropped > 0 and len(df) == raw_rows - dropped and schema.extra["raw_rows"] == raw_rows
        assert "outside the time window" in caplog.text
        ts = df[TS].to_numpy()
        assert ts.min() >= TAOBAO_WINDOW[0] and ts.max() < TAOBAO_WINDOW[1]
        assert schema.cardinalities[0] == users + 1
        assert schema.fields == ("user", "item", "category", "behavior")
        assert schema.item_fields == ("item", "category") and schema.context_fields == ("behavior",)
        assert set(schema.extra["behavior_codes"]) == {"pv", "buy", "cart", "fav"}
    # A wide window keeps the stray timestamps too.
    df, schema = load_raw("taobao", shared_data("taobao/head"), LoaderConfig(ts_min=0, ts_max=2**40))
    assert len(df) == 4_321 and schema.extra["rows_outside_window"] == 0


def test_tmall_first_10000_rows(shared_data, contract, caplog):
    with caplog.at_level(logging.WARNING):
        df, schema = load_raw("tmall", shared_data("tmall"), LoaderConfig())
    contract(df, schema)
    assert "user_info_format1.csv" in caplog.text  # profile absent: fields dropped with a warning
    assert schema.fields == ("user", "item", "category", "seller", "brand", "action", "half_month")
    assert schema.extra["dropped_fields"] == ["age_range", "gender"]
    assert len(df) == 10_000 and schema.cardinalities[0] == 63
    assert int((df["brand"] == 0).sum()) == 1  # the one empty brand_id
    assert schema.cardinalities[schema.fields.index("action")] == 4  # click, buy, fav occur; cart does not
    day = pd.to_datetime(df[TS], unit="s", utc=True).dt.tz_convert("Asia/Shanghai")
    assert (day.dt.hour == 0).all() and (day.dt.year == 2014).all()
    assert day.min() >= pd.Timestamp("2014-05-11", tz="Asia/Shanghai")
    assert day.max() <= pd.Timestamp("2014-11-11", tz="Asia/Shanghai")


def test_lastfm_first_5000_lines(shared_data, contract, caplog):
    with caplog.at_level(logging.WARNING):
        df, schema = load_raw("lastfm-1k", shared_data("lastfm-1k"), LoaderConfig())
    contract(df, schema)
    assert "userid-profile.tsv" in caplog.text
    assert schema.fields == ("user", "artist", "track") and schema.item_field == "track"
    assert len(df) == 5_000 and schema.cardinalities[0] == 3
    assert np.bincount(df[USER_ID]).tolist() == [0, 4_997, 3]
    assert (df["artist"] > 0).all() and (df["track"] > 0).all()  # empty MBIDs fall back to names
    first = pd.Timestamp(int(df[TS].iloc[0]), unit="s", tz="UTC")
    assert first.date() == pd.Timestamp("2008-12-08").date()  # user_000001's sample starts 2008-12-08
    assert df[TS].max() == int(pd.Timestamp("2009-05-04T23:08:57Z").timestamp())  # the file's first line
    assert df.loc[df[USER_ID] == 1, TS].is_monotonic_increasing  # the file is time-descending
