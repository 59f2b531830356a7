"""Raw loaders on tiny hand-written fixtures in each official format (values checked by hand)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from liftrec.recsys.config import from_dict
from liftrec.recsys.data.loaders import DATASETS, LoaderConfig, dataset_spec, load_raw
from liftrec.recsys.errors import ConfigError
from liftrec.recsys.schema import TS, USER_ID

CST = 8 * 3600  # the Alibaba logs' dates are local dates in China (UTC+8)


def midnight_cst(date: str) -> int:
    return int(pd.Timestamp(date, tz="UTC").timestamp()) - CST


def test_registry_and_config():
    assert DATASETS == ("synthetic", "taobao", "tmall", "alipay", "ml-1m", "lastfm-1k", "ml-100k")
    cfg = from_dict(LoaderConfig, {"fields": ["user", "item"], "ts_min": "2017-11-25T00:00+08:00"}, "ingest")
    assert cfg.fields == ("user", "item") and cfg.tmall_year == 2014 and cfg.block_size == 64 << 20
    with pytest.raises(ConfigError, match="ingest.colour"):
        from_dict(LoaderConfig, {"colour": 1}, "ingest")
    with pytest.raises(ConfigError, match="ingest.ts_min.*offset"):
        LoaderConfig(ts_min="2017-11-25T00:00")
    with pytest.raises(ConfigError, match="ingest.ts_max"):
        LoaderConfig(ts_min=10, ts_max=5)
    assert dataset_spec("ml-1m").default_query == ("user", "item", "age", "occupation", "zip", "genre")


TAOBAO = (
    "30,7,100,pv,1511600000\n"
    "2,8,100,buy,1511600500\n"
    "30,9,101,cart,1511600000\n"  # same user and ts as line 1: file order kept
    "2,7,100,fav,1511500000\n"  # before the default window: dropped
    "30,7,100,pv,1511599999\n"
)


def test_taobao_codes_sorting_and_window(write_raw, contract):
    df, schema = load_raw("taobao", write_raw({"UserBehavior.csv": TAOBAO}), LoaderConfig())
    contract(df, schema)
    # users 2 < 30 -> codes 1, 2; items 7 < 8 < 9 -> 1, 2, 3; ties (line 1, line 3) keep file order.
    assert df[["user", "item", "category", TS]].values.tolist() == [
        [1, 2, 1, 1511600500],
        [2, 1, 1, 1511599999],
        [2, 1, 1, 1511600000],
        [2, 3, 2, 1511600000],
    ]
    assert df["behavior"].tolist() == [2, 1, 1, 3]  # buy, pv, pv, cart
    assert schema.extra["behavior_codes"] == {"pv": 1, "buy": 2, "cart": 3}  # fav only outside the window
    assert schema.extra["rows_outside_window"] == 1
    # Bounds: ts_min inclusive, ts_max exclusive; ISO with offset or unix seconds.
    df2, _ = load_raw(
        "taobao",
        write_raw({"UserBehavior.csv": TAOBAO}),
        LoaderConfig(ts_min=1511599999, ts_max="1511600500"),
    )
    assert sorted(df2[TS].tolist()) == [1511599999, 1511600000, 1511600000]


def test_field_subset_and_query(write_raw, contract):
    raw = write_raw({"UserBehavior.csv": TAOBAO})
    df, schema = load_raw("taobao", raw, LoaderConfig(fields=("item", "user")))
    contract(df, schema)
    assert schema.fields == ("item", "user") and list(df.columns[-2:]) == ["item", "user"]
    assert schema.query_fields == ("item", "user")  # the default query restricted to the loaded fields
    _, schema = load_raw("taobao", raw, LoaderConfig(query_fields=("item", "behavior")))
    assert schema.query_fields == ("item", "behavior")


def test_streaming_blocks_equal_one_block(write_raw):
    rng = np.random.default_rng(0)
    n = 30_000
    lines = [
        f"{u},{i},{i % 50},{b},{t}"
        for u, i, b, t in zip(
            rng.integers(1, 300, n),
            rng.integers(1, 5000, n),
            rng.choice(["pv", "buy", "cart", "fav"], n),
            rng.integers(1511539200, 1512316800, n),
            strict=True,
        )
    ]
    raw = write_raw({"UserBehavior.csv": "\n".join(lines) + "\n"})
    small, s1 = load_raw("taobao", raw, LoaderConfig(block_size=1 << 16))  # ~14 blocks
    big, s2 = load_raw("taobao", raw, LoaderConfig())
    pd.testing.assert_frame_equal(small, big)
    assert s1 == s2


def test_loader_never_writes(write_raw):
    raw = write_raw({"UserBehavior.csv": TAOBAO})
    before = {p.name: p.stat().st_mtime_ns for p in raw.iterdir()}
    load_raw("taobao", raw, LoaderConfig())
    assert {p.name: p.stat().st_mtime_ns for p in raw.iterdir()} == before


TMALL_LOG = (
    "user_id,item_id,cat_id,seller_id,brand_id,time_stamp,action_type\n"
    "5,10,1,100,7,1111,2\n"
    "5,11,1,100,,0829,0\n"
    "9,10,1,100,7,829,3\n"
    "7,12,2,101,8,1016,1\n"
)
TMALL_INFO = "user_id,age_range,gender\n5,3,1\n9,0,2\n8,6,0\n"


def test_tmall_with_profile(write_raw, contract):
    raw = write_raw({"user_log_format1.csv": TMALL_LOG, "user_info_format1.csv": TMALL_INFO})
    df, schema = load_raw("tmall", raw, LoaderConfig())
    contract(df, schema)
    assert schema.fields == (
        "user",
        "item",
        "category",
        "seller",
        "brand",
        "action",
        "age_range",
        "gender",
        "half_month",
    )
    assert schema.user_fields == ("user", "age_range", "gender")
    assert schema.item_fields == ("item", "category", "seller", "brand")
    assert schema.context_fields == ("action", "half_month")
    # users 5, 7, 9 -> codes 1, 2, 3; user 5's rows: 0829 (Aug 29) before 1111 (Nov 11).
    assert df[TS].tolist() == [
        midnight_cst("2014-08-29"),
        midnight_cst("2014-11-11"),
        midnight_cst("2014-10-16"),
        midnight_cst("2014-08-29"),
    ]
    assert df["user"].tolist() == [1, 1, 2, 3]
    assert df["brand"].tolist() == [0, 1, 2, 1]  # empty brand_id -> 0
    # user 5: age 3, gender 1; user 7: no profile; user 9: age 0 and gender 2 are "unknown" -> 0.
    assert df["age_range"].tolist() == [1, 1, 0, 0]
    assert df["gender"].tolist() == [1, 1, 0, 0]
    assert df["half_month"].tolist() == [2, 1, 2, 2]  # days 29, 11, 16, 29
    assert df["action"].tolist() == [1, 3, 2, 4]  # raw 0, 2, 1, 3
    _, schema = load_raw("tmall", raw, LoaderConfig(fields=("user", "item", "season"), tmall_year=2015))
    assert schema.fields == ("user", "item", "season")


ALIPAY = (
    "use_ID,sel_ID,ite_ID,cat_ID,act_ID,time\n3,1,20,4,0,20151120\n3,2,21,4,1,20150701\n1,1,20,4,0,20151130\n"
)


def test_alipay(write_raw, contract):
    df, schema = load_raw("alipay", write_raw({"ijcai2016_taobao.csv": ALIPAY}), LoaderConfig())
    contract(df, schema)
    assert schema.fields == ("user", "seller", "item", "category", "action", "half_month")
    assert schema.item_fields == ("seller", "item", "category") and schema.user_fields == ("user",)
    assert schema.query_fields == ("user", "seller", "item", "category")
    assert df[TS].tolist() == [
        midnight_cst("2015-11-30"),
        midnight_cst("2015-07-01"),
        midnight_cst("2015-11-20"),
    ]
    assert df[["user", "seller", "item", "action", "half_month"]].values.tolist() == [
        [1, 1, 1, 1, 2],
        [2, 2, 2, 2, 1],
        [2, 1, 1, 1, 2],
    ]
    df, _ = load_raw(
        "alipay",
        write_raw({"ijcai2016_taobao.csv": ALIPAY}),
        LoaderConfig(ts_min="2015-11-20T00:00+08:00", ts_max="2015-11-25T00:00+08:00"),
    )
    assert len(df) == 1


LASTFM = (
    "user_2\t2009-05-04T10:00:00Z\tA1\tArtist One\tT1\tSong\n"
    "user_1\t2009-05-04T12:00:00Z\t\tNo Id\t\tSong\n"
    'user_1\t2009-05-03T12:00:00Z\t\tNo Id\t\tOther "quoted\n'
    "user_1\t2009-05-02T12:00:00Z\tA1\tArtist One\t\tSong\n"
)
LASTFM_PROFILE = "#id\tgender\tage\tcountry\tregistered\nuser_1\tf\t22\tJapan\tAug 13, 2006\nuser_2\t\t\t\t\n"


def test_lastfm_with_profile(write_raw, contract):
    raw = write_raw(
        {"userid-timestamp-artid-artname-traid-traname.tsv": LASTFM, "userid-profile.tsv": LASTFM_PROFILE}
    )
    df, schema = load_raw("lastfm-1k", raw, LoaderConfig())
    contract(df, schema)
    assert schema.fields == ("user", "artist", "track", "gender", "age", "country")
    assert schema.query_fields == ("user", "artist", "track", "country")
    assert df["user"].tolist() == [1, 1, 1, 2]  # user_1 < user_2; rows ascending in time
    # artist keys: "A1" (MBID) and "name:No Id"; the bare name "Song" under two artists is two tracks.
    assert df["artist"].tolist() == [1, 2, 2, 1]
    # track keys in byte order: "A1<US>Song" < "T1" < "name:No Id<US>Other.." < "name:No Id<US>Song"
    assert df["track"].tolist() == [1, 3, 4, 2]
    assert df["gender"].tolist() == [1, 1, 1, 0] and df["age"].tolist() == [1, 1, 1, 0]
    assert df["country"].tolist() == [1, 1, 1, 0]
    assert df[TS].iloc[0] == int(pd.Timestamp("2009-05-02T12:00:00Z").timestamp())


ML1M_MOVIES = (
    "1::Toy Story (1995)::Animation|Children's|Comedy\n"
    "2::Star Wars: Episode IV - A New Hope (1977)::Action|Adventure\n"
).encode("latin-1") + "3::Caf\u00e9 (1990)::Drama\n".encode("latin-1")
ML1M_USERS = "1::F::1::10::48067\n2::M::56::16::70072\n"


def test_ml1m_fixture(write_raw, contract):
    raw = write_raw(
        {
            "ratings.dat": "2::2::5::978300760\n1::1::3::978300761\n1::3::4::978300700\n2::4::4::978300000\n",
            "users.dat": ML1M_USERS,
            "movies.dat": ML1M_MOVIES,
        }
    )
    df, schema = load_raw("ml-1m", raw, LoaderConfig(fields=("user", "item", "gender", "genre", "rating")))
    contract(df, schema)
    assert df[["user", "item", "gender", "genre", "rating"]].values.tolist() == [
        [1, 3, 1, 3, 2],  # movie 3 -> Drama
        [1, 1, 1, 2, 1],  # movie 1 -> Animation
        [2, 4, 2, 0, 2],  # movie 4 is not in movies.dat -> 0
        [2, 2, 2, 1, 3],  # movie 2 (title with ':') -> Action
    ]
    assert schema.context_fields == ("rating",)


def test_ml100k_fixture(write_raw, contract):
    item = "1|A (1995)|01-Jan-1995||http://x|" + "|".join(["0"] * 3 + ["1"] + ["0"] * 15)
    unknown = "2|B (1995)|01-Jan-1995||http://x|" + "|".join(["1"] + ["0"] * 18)
    raw = write_raw(
        {
            "u.data": "1\t1\t3\t881250949\n1\t2\t4\t881250940\n",
            "u.user": "1|24|M|technician|85711\n",
            "u.item": (item + "\n" + unknown + "\n").encode("latin-1"),
        }
    )
    df, schema = load_raw("ml-100k", raw, LoaderConfig())
    contract(df, schema)
    assert df["item"].tolist() == [2, 1] and df["genre"].tolist() == [0, 1]  # "unknown" genre -> 0
    assert df[USER_ID].tolist() == [1, 1]


def test_int_codes_dense_table_and_hash_paths_agree():
    from liftrec.recsys.data.loaders._encode import int_codes

    rng = np.random.default_rng(1)
    values = rng.integers(-5, 50, 1_000)
    missing = rng.random(1_000) < 0.1
    compact = int_codes(values, missing)  # small id range: direct-address rank table
    sparse = int_codes(values * 10**12, missing)  # huge id range: hash factorisation
    np.testing.assert_array_equal(compact[0], sparse[0])
    np.testing.assert_array_equal(compact[1] * 10**12, sparse[1])
    expected = np.searchsorted(np.unique(values[~missing]), values) + 1
    np.testing.assert_array_equal(compact[0], np.where(missing, 0, expected))
