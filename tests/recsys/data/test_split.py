"""Global temporal split: hand-computed boundaries, empty periods, config checks, properties."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liftrec.recsys.config import from_dict
from liftrec.recsys.data.split import SplitConfig, parse_time_point, split_by_time
from liftrec.recsys.errors import ConfigError, DataError
from liftrec.recsys.schema import PERIOD, PERIODS, RETRIEVAL, TEST, TRAIN, TS, USER_ID, VALID


def table(ts: list[int], users: list[int] | None = None) -> pd.DataFrame:
    users = users if users is not None else [1 + i % 3 for i in range(len(ts))]
    df = pd.DataFrame({USER_ID: np.asarray(users, dtype=np.int64), TS: np.asarray(ts, dtype=np.int64)})
    return df.sort_values([USER_ID, TS], kind="stable").reset_index(drop=True)


def test_time_points_hand_computed() -> None:
    df = table(list(range(10)))
    cfg = SplitConfig(mode="time_points", time_points=(3, 7), valid_fraction=0.5)
    out, summary = split_by_time(df, cfg)
    # train rows ts 3..6; their 0.5 quantile is 4.5, rounded up: valid starts at 5.
    assert summary["boundaries"] == {"train_start": 3, "valid_start": 5, "test_start": 7}
    expected = {0: RETRIEVAL, 1: RETRIEVAL, 2: RETRIEVAL, 3: TRAIN, 4: TRAIN, 5: VALID, 6: VALID}
    expected.update({7: TEST, 8: TEST, 9: TEST})
    assert out[PERIOD].dtype == np.int8
    assert dict(zip(out[TS], out[PERIOD], strict=True)) == expected
    assert summary["rows"] == {"retrieval": 3, "train": 2, "valid": 2, "test": 3}
    assert summary["users"]["retrieval"] == 3 and summary["time_range"] == [0, 9]
    assert summary["boundaries_iso"]["train_start"] == "1970-01-01T00:00:03+00:00"
    assert list(out.columns[:2]) == [USER_ID, TS] and len(out) == len(df)  # order and rows kept


def test_quantiles_hand_computed() -> None:
    out, summary = split_by_time(table(list(range(100))), SplitConfig())
    # q 0.7 -> 69.3 -> 70; q 0.85 -> 84.15 -> 85; train ts 70..84, q 0.9 -> 82.6 -> 83.
    assert summary["boundaries"] == {"train_start": 70, "valid_start": 83, "test_start": 85}
    assert summary["rows"] == {"retrieval": 70, "train": 13, "valid": 2, "test": 15}


def test_ties_at_a_boundary_go_to_the_later_period() -> None:
    df = table([1, 1, 2, 2, 2, 3, 3, 4, 4, 4])
    out, summary = split_by_time(df, SplitConfig(mode="time_points", time_points=(2, 4), valid_fraction=0.5))
    assert summary["boundaries"]["valid_start"] == 3
    assert (out.loc[out[TS] == 2, PERIOD] == TRAIN).all()
    assert (out.loc[out[TS] == 3, PERIOD] == VALID).all()
    assert (out.loc[out[TS] == 4, PERIOD] == TEST).all()


def test_iso_time_points_with_offsets() -> None:
    assert parse_time_point("2017-12-02T00:00:00+08:00") == 1512144000
    assert parse_time_point("2009-05-04T00:00:00Z") == 1241395200
    assert parse_time_point("1512144000") == 1512144000 and parse_time_point(829) == 829
    with pytest.raises(ConfigError, match="no UTC offset"):
        parse_time_point("2017-12-02T00:00:00")
    with pytest.raises(ConfigError, match="neither"):
        parse_time_point("yesterday")


def test_empty_period_names_period_boundaries_and_range() -> None:
    df = table(list(range(1511539200, 1511539200 + 1000)))
    cfg = SplitConfig(
        mode="time_points", time_points=("2017-11-25T00:10:00+08:00", "2018-01-01T00:00:00+08:00")
    )
    with pytest.raises(DataError) as err:
        split_by_time(df, cfg)
    msg = str(err.value)
    assert "period 'test' is empty" in msg and "split.mode=quantiles" in msg
    assert "test_start=1514736000" in msg and "2017-11-24T16:00:00+00:00" in msg  # boundaries and data range


def test_empty_valid_when_train_has_one_timestamp() -> None:
    df = table([0, 0, 1, 1, 5, 5, 9, 9])
    with pytest.raises(DataError, match="period 'train' is empty"):
        split_by_time(df, SplitConfig(mode="time_points", time_points=(5, 9)))


def test_empty_table() -> None:
    with pytest.raises(DataError, match="empty"):
        split_by_time(table([]), SplitConfig())


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"quantiles": [0.8, 0.7]}, "strictly increasing"),
        ({"quantiles": [0.0, 0.5]}, "strictly increasing"),
        ({"quantiles": [0.5, 1.0]}, "strictly increasing"),
        ({"quantiles": [0.5]}, "exactly 2"),
        ({"valid_fraction": 0.0}, "valid_fraction"),
        ({"valid_fraction": 1.0}, "valid_fraction"),
        ({"mode": "time_points"}, "required"),
        ({"mode": "time_points", "time_points": [1, 2, 3]}, "exactly 2"),
        ({"mode": "time_points", "time_points": [5, 3]}, "increasing"),
        ({"mode": "time_points", "time_points": ["2017-12-02", 5]}, "offset"),
        ({"mode": "days"}, "mode"),
        ({"quantile": [0.7, 0.8]}, "unknown parameter 'split.quantile'"),
    ],
)
def test_config_validation(params: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        from_dict(SplitConfig, params, "split")


def test_config_from_yaml_like_dict() -> None:
    cfg = from_dict(
        SplitConfig, {"mode": "time_points", "time_points": ["2017-12-02T00:00:00+08:00", 1512230400]}
    )
    assert cfg.time_points == ("2017-12-02T00:00:00+08:00", 1512230400)


@settings(max_examples=80, deadline=None)
@given(
    ts=st.lists(st.integers(0, 30), min_size=1, max_size=60),
    q0=st.floats(0.05, 0.6),
    gap=st.floats(0.05, 0.35),
    vf=st.floats(0.05, 0.95),
)
def test_property_periods_follow_global_half_open_boundaries(
    ts: list[int], q0: float, gap: float, vf: float
) -> None:
    df = table(ts)
    cfg = SplitConfig(quantiles=(q0, q0 + gap), valid_fraction=vf)
    try:
        out, summary = split_by_time(df, cfg)
    except DataError as e:
        assert "is empty" in str(e)
        return
    b = summary["boundaries"]
    assert b["train_start"] <= b["valid_start"] <= b["test_start"]
    t, p = out[TS].to_numpy(), out[PERIOD].to_numpy()
    expected = (t >= b["train_start"]).astype(int) + (t >= b["valid_start"]) + (t >= b["test_start"])
    np.testing.assert_array_equal(p, expected)
    assert set(np.unique(p)) == {RETRIEVAL, TRAIN, VALID, TEST}
    # Global split: a later period never holds an earlier timestamp than an earlier period.
    for a in range(3):
        assert t[p == a].max() < t[p == a + 1].min()
    assert sum(summary["rows"].values()) == len(df)
    pd.testing.assert_frame_equal(out.drop(columns=PERIOD), df)
    assert PERIOD not in df.columns  # the input is left untouched


@pytest.mark.parametrize("order", ["sorted", "user_only", "shuffled"])
def test_chunk_size_does_not_change_the_split(order: str) -> None:
    """Period codes and per-period user counts (chunked pass or groupby fallback) match pandas."""
    rng = np.random.default_rng(0)
    n = 500
    df = table(rng.integers(0, 100, n).tolist(), rng.integers(0, 40, n).tolist())
    if order == "user_only":  # sorted by user, not by time within a user
        df = df.sample(frac=1.0, random_state=1).sort_values(USER_ID, kind="stable")
    elif order == "shuffled":
        df = df.sample(frac=1.0, random_state=2)
    whole, summary = split_by_time(df, SplitConfig())
    expected = whole.groupby(PERIOD)[USER_ID].nunique()
    assert summary["users"] == {name: int(expected.get(c, 0)) for name, c in PERIODS.items()}
    for chunk_rows in (1, 3, 64):
        out, s = split_by_time(df, SplitConfig(), chunk_rows=chunk_rows)
        pd.testing.assert_frame_equal(out, whole)
        assert s == summary
