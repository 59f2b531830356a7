"""History / future / pretraining windows: hand-computed slices and no temporal leakage (properties)."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liftrec.recsys.config import from_dict
from liftrec.recsys.data.negatives import NegativeConfig, sample_negatives
from liftrec.recsys.data.sequences import WindowConfig, build_windows, gather_windows
from liftrec.recsys.errors import ConfigError, DataError
from liftrec.recsys.schema import (
    GROUP_ID,
    LABEL,
    PAD,
    PERIOD,
    RETRIEVAL,
    ROW_ID,
    TEST,
    TRAIN,
    TS,
    USER_ID,
    Schema,
)

SCHEMA = Schema(
    dataset="tiny",
    fields=("user", "item", "category"),
    cardinalities=(10, 10, 4),
    user_fields=("user",),
    item_fields=("item", "category"),
)


def rows_table(spec: list[tuple[int, int, int, int]]) -> pd.DataFrame:
    """(user, ts, label, period) tuples in rows order; a group is a positive and the rows after it."""
    u, t, lab, p = (np.array(x) for x in zip(*spec, strict=True))
    starts = np.where(lab == 1, np.arange(len(u)), 0)
    return pd.DataFrame(
        {
            ROW_ID: np.arange(len(u), dtype=np.int64),
            GROUP_ID: np.maximum.accumulate(starts).astype(np.int64),
            USER_ID: u.astype(np.int64),
            TS: t.astype(np.int64),
            LABEL: lab.astype(np.int8),
            PERIOD: p.astype(np.int8),
        }
    )


R, P1, P3 = RETRIEVAL, TRAIN, TEST
TINY = [  # (user, ts, label, period) in rows order; row i is the i-th tuple
    (1, 1, 1, R),  # row 0
    (1, 1, 0, R),  # row 1
    (1, 2, 1, R),  # row 2
    (1, 2, 0, R),  # row 3
    (1, 2, 1, R),  # row 4
    (1, 2, 0, R),  # row 5
    (1, 3, 1, R),  # row 6
    (1, 3, 0, R),  # row 7
    (1, 5, 1, P1),  # row 8
    (1, 5, 0, P1),  # row 9
    (1, 7, 1, P3),  # row 10
    (1, 7, 0, P3),  # row 11
    (2, 4, 1, P1),  # row 12
    (2, 4, 0, P1),  # row 13
    (2, 6, 1, P3),  # row 14
    (2, 6, 0, P3),  # row 15
]


def test_tiny_hand_computed() -> None:
    w = build_windows(rows_table(TINY), WindowConfig(length=3, retrieval_pool="all"))
    # Pool: all retrieval rows + later positives; later negatives (9, 11, 13, 15) are never history.
    np.testing.assert_array_equal(w["pool_index"], [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14])
    assert w["hist_lo"].tolist() == [0, 0, 0, 0, 0, 0, 3, 3, 5, 5, 6, 6, 10, 10, 10, 10]
    assert w["hist_hi"].tolist() == [0, 0, 2, 2, 2, 2, 6, 6, 8, 8, 9, 9, 10, 10, 11, 11]
    assert w["fut_lo"].tolist() == [2, 2, 6, 6, 6, 6, 8, 8] + [0] * 8
    assert w["fut_hi"].tolist() == [5, 5, 8, 8, 8, 8, 8, 8] + [0] * 8
    assert w["seq_lo"].tolist() == [0, 3, 6] and w["seq_hi"].tolist() == [3, 6, 8]
    for v in w.values():
        assert v.dtype == np.int64
    hist = gather_windows(w["pool_index"], w["hist_lo"], w["hist_hi"], 3)
    assert hist[2].tolist() == [PAD, 0, 1] and hist[6].tolist() == [3, 4, 5]
    assert hist[10].tolist() == [6, 7, 8] and hist[14].tolist() == [PAD, PAD, 12]
    fut = gather_windows(w["pool_index"], w["fut_lo"], w["fut_hi"], 3)
    assert fut[0].tolist() == [2, 3, 4] and fut[2].tolist() == [PAD, 6, 7] and (fut[6] == PAD).all()
    w3 = build_windows(rows_table(TINY), WindowConfig(length=3, min_pretrain_len=3, retrieval_pool="all"))
    assert w3["seq_lo"].tolist() == [0, 3] and w3["seq_hi"].tolist() == [3, 6]


def test_tiny_one_row_per_group() -> None:
    rows = rows_table(TINY)
    rows[LABEL] = rows[LABEL].to_numpy()[[0, 1, 3, 2, *range(4, 16)]]  # group 2 starts with its negative
    rows.loc[2:3, GROUP_ID] = 2
    w = build_windows(rows, WindowConfig(length=3))  # default: one_per_group
    # One retrieval row per group (its first: 0, 2, 4, 6), never a pair side by side; later positives.
    np.testing.assert_array_equal(w["pool_index"], [0, 2, 4, 6, 8, 10, 12, 14])
    assert w["hist_lo"].tolist()[6:12] == [0, 0, 1, 1, 2, 2]
    assert w["hist_hi"].tolist()[6:12] == [3, 3, 4, 4, 5, 5]
    assert w["fut_lo"].tolist()[:8] == [1, 1, 3, 3, 3, 3, 4, 4]
    assert w["fut_hi"].tolist()[:8] == [4] * 8
    assert w["seq_lo"].tolist() == [0] and w["seq_hi"].tolist() == [3]  # the 1-row tail is dropped
    assert gather_windows(w["pool_index"], w["seq_lo"], w["seq_hi"], 3).tolist() == [[0, 2, 4]]
    assert rows[LABEL].to_numpy()[[0, 2, 4, 6]].tolist() == [1, 0, 1, 1]  # both labels stay in sequences
    with pytest.raises(DataError, match="group_id"):
        build_windows(rows.drop(columns=GROUP_ID), WindowConfig())


def test_gather_windows_takes_the_last_entries_left_padded() -> None:
    pool = np.array([10, 11, 12, 13, 14])
    out = gather_windows(pool, np.array([0, 1, 2, 3]), np.array([5, 2, 2, 5]), 3)
    assert out.tolist() == [[12, 13, 14], [PAD, PAD, 11], [PAD, PAD, PAD], [PAD, 13, 14]]
    assert gather_windows(np.array([], dtype=np.int64), np.array([0]), np.array([0]), 2).tolist() == [
        [PAD, PAD]
    ]


def test_input_errors() -> None:
    df = rows_table(TINY)
    with pytest.raises(DataError, match="row_id"):
        build_windows(df.assign(**{ROW_ID: df[ROW_ID] + 1}), WindowConfig())
    with pytest.raises(DataError, match="sorted"):
        build_windows(
            df.iloc[::-1].reset_index(drop=True).assign(**{ROW_ID: np.arange(len(df))}), WindowConfig()
        )
    bad = df.copy()
    bad.loc[11, PERIOD] = RETRIEVAL
    with pytest.raises(DataError, match="period"):
        build_windows(bad, WindowConfig())
    with pytest.raises(DataError, match="lacks"):
        build_windows(df.drop(columns=PERIOD), WindowConfig())


@pytest.mark.parametrize(
    "params",
    [
        {"length": 0},
        {"min_pretrain_len": 0},
        {"length": 3, "min_pretrain_len": 4},
        {"len": 3},
        {"retrieval_pool": "x"},
    ],
)
def test_config_validation(params: dict) -> None:
    with pytest.raises(ConfigError):
        from_dict(WindowConfig, params, "windows")


def brute_force(
    rows: pd.DataFrame, L: int, min_len: int, retrieval_pool: str = "all"
) -> tuple[list, list, list]:
    """Reference windows by definition, one row at a time (tiny tables only)."""
    u, t = rows[USER_ID].to_numpy(), rows[TS].to_numpy()
    p, lab, g = rows[PERIOD].to_numpy(), rows[LABEL].to_numpy(), rows[GROUP_ID].to_numpy()
    seen: set = set()
    chosen = []  # the first row of each group, by definition
    for j in range(len(rows)):
        chosen.append(g[j] not in seen)
        seen.add(g[j])
    pool = [
        j
        for j in range(len(rows))
        if (p[j] == RETRIEVAL and (retrieval_pool == "all" or chosen[j]))
        or (p[j] != RETRIEVAL and lab[j] == 1)
    ]
    hist = [[j for j in pool if u[j] == u[r] and t[j] < t[r]][-L:] if L else [] for r in range(len(rows))]
    fut = [
        [j for j in pool if u[j] == u[r] and t[j] > t[r] and p[j] == RETRIEVAL][:L]
        if p[r] == RETRIEVAL
        else []
        for r in range(len(rows))
    ]
    seqs = []
    for user in dict.fromkeys(u):
        own = [j for j in pool if u[j] == user and p[j] == RETRIEVAL]
        seqs += [own[i : i + L] for i in range(0, len(own), L) if len(own[i : i + L]) >= min_len]
    return hist, fut, seqs


def unpad(m: np.ndarray) -> list[list[int]]:
    return [[int(x) for x in row if x != PAD] for row in m]


@st.composite
def rows_tables(draw: st.DrawFn) -> tuple[pd.DataFrame, int, int]:
    """Random positives (few users, timestamps with many ties), a global split, sampled negatives."""
    n = draw(st.integers(1, 40))
    users = np.array(draw(st.lists(st.integers(1, 4), min_size=n, max_size=n)))
    ts = np.array(draw(st.lists(st.integers(0, 9), min_size=n, max_size=n)))
    items = np.array(draw(st.lists(st.integers(1, 6), min_size=n, max_size=n)))
    cuts = sorted(draw(st.lists(st.integers(0, 10), min_size=3, max_size=3)))
    period = np.searchsorted(np.array(cuts), ts, side="right").astype(np.int8)
    pos = pd.DataFrame(
        {
            USER_ID: users,
            TS: ts,
            LABEL: np.ones(n, np.int8),
            PERIOD: period,
            "user": users,
            "item": items,
            "category": items % 3 + 1,
        }
    ).sort_values([USER_ID, TS], kind="stable")
    task = draw(st.sampled_from(["ctr", "topn"]))
    cfg = NegativeConfig(
        task=task,
        ctr_per_positive=draw(st.integers(1, 2)),
        topn_per_positive=draw(st.integers(1, 3)),
        retrieval_per_positive=draw(st.integers(0, 2)),
    )
    rows = sample_negatives(pos, SCHEMA, cfg, seed=draw(st.integers(0, 1000)))
    L = draw(st.integers(1, 5))
    return rows, L, draw(st.integers(1, L))


@pytest.mark.parametrize("retrieval_pool", ["one_per_group", "all"])
@settings(max_examples=100, deadline=None)
@given(case=rows_tables())
def test_property_no_temporal_leakage(case: tuple[pd.DataFrame, int, int], retrieval_pool: str) -> None:
    rows, L, min_len = case
    w = build_windows(rows, WindowConfig(length=L, min_pretrain_len=min_len, retrieval_pool=retrieval_pool))
    u, t = rows[USER_ID].to_numpy(), rows[TS].to_numpy()
    p, lab = rows[PERIOD].to_numpy(), rows[LABEL].to_numpy()
    in_pool = np.zeros(len(rows), dtype=bool)
    in_pool[w["pool_index"]] = True
    assert (in_pool <= ((p == RETRIEVAL) | (lab == 1))).all()  # later negatives never enter a history
    if retrieval_pool == "one_per_group":  # exactly one pool row per retrieval group
        g = rows[GROUP_ID].to_numpy()
        assert (pd.Series(in_pool[p == RETRIEVAL]).groupby(g[p == RETRIEVAL]).sum() == 1).all()

    hist = gather_windows(w["pool_index"], w["hist_lo"], w["hist_hi"], L)
    fut = gather_windows(w["pool_index"], w["fut_lo"], w["fut_hi"], L)
    r = np.broadcast_to(np.arange(len(rows))[:, None], hist.shape)
    h = hist != PAD
    # Every history row: same user, strictly earlier, in the pool; chronological.
    assert (u[hist[h]] == u[r[h]]).all() and (t[hist[h]] < t[r[h]]).all() and in_pool[hist[h]].all()
    f = fut != PAD
    # Every future row: same user, strictly later, retrieval period; only retrieval rows have futures.
    assert (u[fut[f]] == u[r[f]]).all() and (t[fut[f]] > t[r[f]]).all() and (p[fut[f]] == RETRIEVAL).all()
    assert (p[r[f]] == RETRIEVAL).all()
    for m in (hist, fut):  # padding on the left only, row ids increasing (chronological)
        assert (np.diff((m != PAD).astype(int), axis=1) >= 0).all()
        both = (m[:, 1:] != PAD) & (m[:, :-1] != PAD)
        assert (m[:, 1:][both] > m[:, :-1][both]).all()

    # Pretraining chunks: retrieval pool rows of one user, in order, min_len <= length <= L.
    seq = gather_windows(w["pool_index"], w["seq_lo"], w["seq_hi"], L)
    lens = w["seq_hi"] - w["seq_lo"]
    assert ((lens >= min_len) & (lens <= L)).all()
    for row in unpad(seq):
        assert (p[row] == RETRIEVAL).all() and len(set(u[row])) == 1 and (np.diff(row) > 0).all()

    # Exactly the windows of the definition.
    ref_hist, ref_fut, ref_seqs = brute_force(rows, L, min_len, retrieval_pool)
    assert unpad(hist) == ref_hist and unpad(fut) == ref_fut and unpad(seq) == ref_seqs


def test_synthetic_end_to_end_windows_do_not_leak() -> None:
    from liftrec.recsys.data.split import SplitConfig, split_by_time
    from liftrec.recsys.data.synthetic import SyntheticConfig, generate_synthetic

    df, schema = generate_synthetic(SyntheticConfig(num_users=200, interactions_per_user=30), seed=0)
    rows = sample_negatives(split_by_time(df, SplitConfig())[0], schema, NegativeConfig(), seed=0)
    w = build_windows(rows, WindowConfig(length=8))
    u, t, p = rows[USER_ID].to_numpy(), rows[TS].to_numpy(), rows[PERIOD].to_numpy()
    r = np.arange(len(rows))[:, None]
    for lo, hi, later in (("hist_lo", "hist_hi", False), ("fut_lo", "fut_hi", True)):
        m = gather_windows(w["pool_index"], w[lo], w[hi], 8)
        rr, ok = np.broadcast_to(r, m.shape)[m != PAD], m[m != PAD]
        assert len(ok) > 0 and (u[ok] == u[rr]).all()
        assert ((t[ok] > t[rr]) & (p[ok] == RETRIEVAL)).all() if later else (t[ok] < t[rr]).all()
    pool = rows.iloc[w["pool_index"]]  # later-period negatives never enter a history
    assert ((pool[LABEL] == 1) | (pool[PERIOD] == RETRIEVAL)).all()


def seeded_rows(cfg: NegativeConfig) -> pd.DataFrame:
    """A rows table of 60 users with tied timestamps and a global split (seeded)."""
    rng = np.random.default_rng(0)
    n = 1500
    users, ts = np.sort(rng.integers(1, 61, n)), rng.integers(0, 300, n)
    items = rng.integers(1, 40, n)
    pos = pd.DataFrame(
        {
            USER_ID: users,
            TS: ts,
            LABEL: np.ones(n, np.int8),
            PERIOD: np.searchsorted([200, 240, 260], ts, side="right").astype(np.int8),
            "user": users,
            "item": items,
            "category": items % 3 + 1,
        }
    ).sort_values([USER_ID, TS], kind="stable")
    return sample_negatives(pos, SCHEMA, cfg, seed=7)


@pytest.mark.parametrize(
    ("cfg", "expected"),
    [
        (NegativeConfig(), "b2cea002bad185ee"),
        (NegativeConfig(task="topn", topn_per_positive=20), "cfa296189091e46a"),
    ],
)
def test_windows_pinned_and_independent_of_chunk_size(cfg: NegativeConfig, expected: str) -> None:
    """Pinned outputs of the original whole-table implementation, for every chunk size."""
    rows = seeded_rows(cfg)
    for chunk_rows in (1, 5, 77, 1 << 22):  # 77 rows: cuts move back to user starts
        w = build_windows(rows, WindowConfig(length=5, retrieval_pool="all"), chunk_rows=chunk_rows)
        h = hashlib.sha256()
        for k in sorted(w):
            assert w[k].dtype == np.int64, k
            h.update(k.encode())
            h.update(w[k].tobytes())
        assert h.hexdigest()[:16] == expected, chunk_rows


@pytest.mark.parametrize("retrieval_pool", ["one_per_group", "all"])
@settings(max_examples=40, deadline=None)
@given(case=rows_tables(), chunk_rows=st.integers(1, 12))
def test_property_chunked_windows_equal_whole(
    case: tuple[pd.DataFrame, int, int], chunk_rows: int, retrieval_pool: str
) -> None:
    rows, L, min_len = case
    cfg = WindowConfig(length=L, min_pretrain_len=min_len, retrieval_pool=retrieval_pool)
    whole, chunked = build_windows(rows, cfg), build_windows(rows, cfg, chunk_rows=chunk_rows)
    assert whole.keys() == chunked.keys()
    for k in whole:
        np.testing.assert_array_equal(chunked[k], whole[k])


def test_errors_do_not_depend_on_chunk_size() -> None:
    df = rows_table(TINY)
    bad = df.copy()
    bad.loc[14, TS] = 3  # unsorted, late in the table
    bad.loc[1, ROW_ID] = 7  # wrong row id, early
    for chunk_rows in (1, 4, 100):
        with pytest.raises(DataError, match="row_id must equal"):
            build_windows(bad, WindowConfig(), chunk_rows=chunk_rows)
        with pytest.raises(DataError, match="sorted"):
            build_windows(bad.assign(**{ROW_ID: df[ROW_ID]}), WindowConfig(), chunk_rows=chunk_rows)
    empty = build_windows(df.iloc[:0], WindowConfig(), chunk_rows=3)
    assert all(len(v) == 0 and v.dtype == np.int64 for v in empty.values())
