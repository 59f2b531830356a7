"""Bad raw input: one clear error naming the file, the line and/or column, and what was expected."""

from __future__ import annotations

import pytest

from liftrec.recsys.data.loaders import LoaderConfig, load_raw
from liftrec.recsys.errors import ConfigError, DataError

GOOD = "".join(f"{u},{i},3,pv,{1511600000 + i}\n" for u in range(1, 4) for i in range(5))  # 15 lines
TB = "UserBehavior.csv"
TMALL_HEADER = "user_id,item_id,cat_id,seller_id,brand_id,time_stamp,action_type\n"


def load_error(raw, dataset="taobao", cfg=None, match=None):
    with pytest.raises(DataError) as info:
        load_raw(dataset, raw, cfg or LoaderConfig())
    return info.value


def test_missing_file_names_file_and_folder(write_raw):
    raw = write_raw({"other.csv": "x"})
    err = load_error(raw)
    assert err.path.endswith(TB) and "expected file 'UserBehavior.csv'" in str(err) and str(raw) in str(err)
    err = load_error(raw / "absent")
    assert "raw data folder not found" in str(err) and "UserBehavior.csv" in str(err)


def test_empty_file(write_raw):
    err = load_error(write_raw({TB: ""}))
    assert "file is empty" in str(err) and "user_id,item_id,category_id,behavior_type,timestamp" in str(err)
    err = load_error(write_raw({"user_log_format1.csv": TMALL_HEADER}), "tmall")
    assert "no data rows" in str(err)


def test_wrong_separator(write_raw):
    err = load_error(write_raw({TB: GOOD.replace(",", ";")}))
    assert err.line == 1 and "expected 5 fields separated by ','" in str(err) and "got 1" in str(err)
    assert "wrong separator" in str(err)
    err = load_error(
        write_raw({"user_log_format1.csv": TMALL_HEADER.replace(",", ";") + "1;2;3;4;5;829;0\n"}), "tmall"
    )
    assert err.line == 1 and "expected the header" in str(err) and "wrong separator" in str(err)


@pytest.mark.parametrize("bad, got", [("1,2,3,pv\n", 4), ("1,2,3,pv,1511600000,9\n", 6)])
def test_missing_or_extra_column(write_raw, bad, got):
    err = load_error(write_raw({TB: GOOD + bad}))
    assert err.line == 16 and f"got {got}" in str(err) and "expected 5 fields" in str(err)


def test_non_numeric_id_names_line_and_column(write_raw):
    err = load_error(write_raw({TB: GOOD + "\n\n" + "1,x2,3,pv,1511600000\n"}))  # empty lines are skipped
    assert (
        (err.line, err.column) == (18, "item_id") and "expected an integer" in str(err) and "'x2'" in str(err)
    )


def test_non_numeric_timestamp(write_raw):
    err = load_error(write_raw({TB: GOOD + "1,2,3,pv,yesterday\n"}))
    assert (err.line, err.column) == (16, "timestamp") and "unix seconds" in str(err)
    bad_iso = "u\t2009-05-04T23:08:57Z\ta\tA\tt\tT\nu\t2009-05-04 23:08:57\ta\tA\tt\tT\n"
    err = load_error(write_raw({"userid-timestamp-artid-artname-traid-traname.tsv": bad_iso}), "lastfm-1k")
    assert (err.line, err.column) == (2, "timestamp") and "ISO-8601" in str(err)


def test_bad_value_in_a_later_block_names_its_line(write_raw):
    lines = [f"{u % 97 + 1},{u},{u % 7},pv,{1511600000 + u}" for u in range(20_000)]
    lines[15_000] = "5,12,3,pv,15116OOOOO"
    raw = write_raw({TB: "\n".join(lines) + "\n"})
    err = load_error(raw, cfg=LoaderConfig(block_size=1 << 16))
    assert (err.line, err.column) == (15_001, "timestamp")


def test_missing_value(write_raw):
    err = load_error(write_raw({TB: GOOD + "1,,3,pv,1511600000\n"}))
    assert (err.line, err.column) == (16, "item_id") and "missing value" in str(err)


def test_unknown_category_value(write_raw):
    err = load_error(write_raw({TB: GOOD + "1,2,3,click,1511600000\n"}))
    assert (err.line, err.column) == (16, "behavior_type")
    assert "'click'" in str(err) and "['pv', 'buy', 'cart', 'fav']" in str(err)
    err = load_error(
        write_raw({"user_log_format1.csv": TMALL_HEADER + "1,2,3,4,5,829,0\n1,2,3,4,5,829,7\n"}), "tmall"
    )
    assert (err.line, err.column) == (3, "action_type") and "[0, 1, 2, 3]" in str(err)
    err = load_error(
        write_raw({"ijcai2016_taobao.csv": "use_ID,sel_ID,ite_ID,cat_ID,act_ID,time\n1,2,3,4,2,20151101\n"}),
        "alipay",
    )
    assert (err.line, err.column) == (2, "act_ID") and "[0, 1]" in str(err)


def test_invalid_dates(write_raw):
    err = load_error(
        write_raw({"user_log_format1.csv": TMALL_HEADER + "1,2,3,4,5,829,0\n1,2,3,4,5,1345,0\n"}), "tmall"
    )
    assert (err.line, err.column) == (3, "time_stamp") and "not a valid date" in str(err)
    err = load_error(
        write_raw({"ijcai2016_taobao.csv": "use_ID,sel_ID,ite_ID,cat_ID,act_ID,time\n1,2,3,4,0,20150231\n"}),
        "alipay",
    )
    assert (err.line, err.column) == (2, "time") and "not a valid date" in str(err)


def test_wrong_header(write_raw):
    err = load_error(write_raw({"user_log_format1.csv": "user_id,item_id\n1,2\n"}), "tmall")
    assert err.line == 1 and "expected the header 'user_id,item_id,cat_id" in str(err)


def test_movielens_malformed_lines(write_raw):
    movies = "1::A (1995)::Drama\n"
    err = load_error(
        write_raw(
            {
                "ratings.dat": "1::1::5::978300760\n1::1::5:978300761\n",
                "users.dat": "1::F::1::10::1\n",
                "movies.dat": movies,
            }
        ),
        "ml-1m",
    )
    assert err.line == 2 and "separated by '::'" in str(err)
    err = load_error(
        write_raw(
            {"ratings.dat": "1::1::5::978300760\n", "users.dat": "1::F::1::10\n", "movies.dat": movies}
        ),
        "ml-1m",
    )
    assert err.path.endswith("users.dat") and err.line == 1 and "expected 5 fields" in str(err)
    err = load_error(
        write_raw(
            {"ratings.dat": "1::1::5::978300760\n", "users.dat": "1::X::1::10::1\n", "movies.dat": movies}
        ),
        "ml-1m",
    )
    assert (err.line, err.column) == (1, "gender") and "unknown category value 'X'" in str(err)
    err = load_error(
        write_raw({"u.data": "1\t1\t3\t881250949\n1 1 3 881250949\n"}),
        "ml-100k",
        LoaderConfig(fields=("user", "item")),
    )
    assert err.line == 2 and "separated by a tab" in str(err)


def test_profile_requested_but_absent(write_raw):
    raw = write_raw({"user_log_format1.csv": TMALL_HEADER + "1,2,3,4,5,829,0\n"})
    err = load_error(raw, "tmall", LoaderConfig(fields=("user", "item", "gender")))
    assert "expected file 'user_info_format1.csv'" in str(err)


def test_empty_time_window(write_raw):
    cfg = LoaderConfig(ts_min="2017-12-10T00:00+08:00", ts_max="2017-12-11T00:00+08:00")
    err = load_error(write_raw({TB: GOOD}), cfg=cfg)
    assert "no interaction inside the time window" in str(err) and "2017-12-09T16:00:00+00:00" in str(err)
    with pytest.raises(ConfigError, match="taobao's default"):  # ts_max left null: the default upper bound
        load_raw("taobao", write_raw({TB: GOOD}), LoaderConfig(ts_min="2017-12-10T00:00+08:00"))


def test_config_errors(write_raw):
    raw = write_raw({TB: GOOD})
    with pytest.raises(ConfigError, match=r"unknown dataset 'movielens'.*'ml-1m'"):
        load_raw("movielens", raw, LoaderConfig())
    with pytest.raises(ConfigError, match="generate_synthetic"):
        load_raw("synthetic", raw, LoaderConfig())
    with pytest.raises(
        ConfigError,
        match=r"unknown field\(s\) \['colour'\].*available: \['user', 'item', 'category', 'behavior'\]",
    ):
        load_raw("taobao", raw, LoaderConfig(fields=("user", "item", "colour")))
    with pytest.raises(ConfigError, match="must include the item field 'item'"):
        load_raw("taobao", raw, LoaderConfig(fields=("user", "category")))
    with pytest.raises(ConfigError, match="ingest.query_fields"):
        load_raw("taobao", raw, LoaderConfig(fields=("user", "item"), query_fields=("category",)))


def test_millisecond_timestamps_name_the_line_and_the_likely_unit(write_raw):
    err = load_error(write_raw({TB: GOOD + "1,2,3,pv,1511600000123\n"}))
    assert err.line == 16 and err.column == "ts"
    assert "1511600000123" in str(err) and "looks like milliseconds" in str(err)
    # one stray row among seconds is caught too, before the time window could drop it silently
    lines = GOOD.splitlines()
    lines[4] = "1,4,3,pv,1511600004000"
    err = load_error(write_raw({TB: "\n".join(lines) + "\n"}))
    assert err.line == 5 and "milliseconds" in str(err)


def test_implausible_timestamp_without_a_known_unit(write_raw):
    err = load_error(write_raw({TB: GOOD + "1,2,3,pv,42\n"}))
    assert err.line == 16 and "outside 1990-2100" in str(err) and "looks like" not in str(err)


def test_negative_user_id_names_the_line(write_raw):
    err = load_error(write_raw({TB: GOOD + "-7,2,3,pv,1511600000\n"}))
    assert err.line == 16 and "negative user id -7" in str(err)


def test_a_huge_bad_value_is_shown_cut_short(write_raw):
    huge = "x" * 5_000_000
    err = load_error(write_raw({TB: GOOD + f"1,{huge},3,pv,1511600000\n"}))
    assert err.line == 16 and len(str(err)) < 400 and "5,000,000 characters" in str(err)


def test_ml100k_u_data_in_milliseconds_and_negative_user(write_raw):
    """The issue's own reproductions, on a u.data copy (only the ratings file is read for these fields)."""
    cfg = LoaderConfig(fields=("user", "item", "rating"))
    lines = ["1\t10\t3\t881250949", "2\t11\t4\t881250950", "3\t12\t5\t881250951000", "4\t13\t1\t881250952"]
    err = load_error(write_raw({"u.data": "\n".join(lines) + "\n"}), "ml-100k", cfg)
    assert err.line == 3 and "881250951000" in str(err) and "looks like milliseconds" in str(err)
    err = load_error(write_raw({"u.data": "1\t10\t3\t881250949\n-7\t11\t4\t881250950\n"}), "ml-100k", cfg)
    assert err.line == 2 and "negative user id -7" in str(err)


def test_repeated_lines_are_kept_and_counted(write_raw, caplog):
    twice = GOOD + "3,4,3,pv,1511600004\n" + "3,4,3,pv,1511600004\n"  # the last line of GOOD, twice more
    with caplog.at_level("WARNING"):
        df, schema = load_raw("taobao", write_raw({TB: twice}), LoaderConfig())
    assert len(df) == 17 and schema.extra["duplicate_rows"] == 2
    assert "2 rows" in caplog.text and "kept" in caplog.text
    _, clean = load_raw("taobao", write_raw({TB: GOOD}), LoaderConfig())
    assert clean.extra["duplicate_rows"] == 0
