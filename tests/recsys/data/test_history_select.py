"""History selection (recent / SIM category / UBR4CTR BM25) against a brute-force per-row reference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from liftrec.recsys.data.history_select import field_idf, index_idf, make_history_fn, select_histories
from liftrec.recsys.data.sequences import WindowConfig, build_windows, gather_windows
from liftrec.recsys.errors import DataError
from liftrec.recsys.retrieval.bm25 import BM25Config, BM25Index
from liftrec.recsys.schema import GROUP_ID, LABEL, PAD, PERIOD, RETRIEVAL, ROW_ID, TEST, TRAIN, TS, USER_ID

CARD = (0, 9, 4, 3)  # field 0 is the user (filled below); item, category (0 = unknown), weekday


def random_table(seed: int, n_users: int = 7, max_rows: int = 45) -> tuple[pd.DataFrame, np.ndarray]:
    """Rows sorted by (user, ts) with many ts ties, three periods, and (N, 4) field codes."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(0, max_rows, n_users)
    sizes[0] = 1  # a user with a single row: empty history
    user = np.repeat(np.arange(1, n_users + 1), sizes)
    ts = np.concatenate([np.sort(rng.integers(0, 30, s)) for s in sizes])
    n = len(user)
    period = np.select([ts < 15, ts < 24], [RETRIEVAL, TRAIN], TEST)
    label = rng.integers(0, 2, n).astype(np.int8)
    rows = pd.DataFrame(
        {ROW_ID: np.arange(n), USER_ID: user, TS: ts, LABEL: label, PERIOD: period.astype(np.int8)}
    )
    X = np.stack(
        [user, rng.integers(1, CARD[1], n), rng.integers(0, CARD[2], n), rng.integers(1, CARD[3], n)], 1
    )
    return rows, X.astype(np.int64)


def reference(rows, X, windows, t, mode, L, field=None, qcols=None, idf=None, cap=None):
    """Per-target loop: the user's pool rows before hist_hi, then the mode's rule, left-padded."""
    pool, users = windows["pool_index"], rows[USER_ID].to_numpy()
    hist = [int(pool[p]) for p in range(int(windows["hist_hi"][t])) if users[pool[p]] == users[t]]
    if mode == "recent":
        sel = hist[-L:]
    elif mode == "category":
        sel = [r for r in hist[-cap:] if X[t, field] != 0 and X[r, field] == X[t, field]][-L:]
    else:
        cand = hist[-cap:]
        scores = []
        for r in cand:
            s = 0.0
            for j, c in enumerate(qcols):
                q = X[t, c]
                w = idf[j][q] if 0 < q < len(idf[j]) else 0.0
                s += w if X[r, c] == q else 0.0
            scores.append(s)
        ranked = sorted(range(len(cand)), key=lambda i: (-scores[i], -i))[:L]  # ties: the more recent
        sel = [cand[i] for i in sorted(ranked)]
    return [PAD] * (L - len(sel)) + sel


def setup(seed: int) -> tuple[pd.DataFrame, np.ndarray, dict[str, np.ndarray]]:
    rows, X = random_table(seed)
    return rows, X, build_windows(rows, WindowConfig(length=4, retrieval_pool="all"))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("L", [1, 3, 6])
def test_every_mode_matches_brute_force(seed: int, L: int) -> None:
    rows, X, windows = setup(seed)
    users = rows[USER_ID].to_numpy()
    targets = np.arange(len(rows))
    ret = rows[PERIOD].to_numpy() == RETRIEVAL
    qcols = [1, 2, 3]
    idf = field_idf(X[ret][:, qcols], "paper")  # negative IDFs (a 3-value field) are kept exactly
    cases = [
        ("recent", {}),
        ("category", {"field_index": 2, "max_candidates": 9}),
        ("category", {"field_index": 2}),
        ("bm25", {"query_field_idx": qcols, "idf": idf, "max_candidates": 7}),
        ("bm25", {"query_field_idx": qcols, "idf": idf}),
    ]
    for mode, kw in cases:
        got = select_histories(X, users, windows, targets, mode=mode, length=L, chunk_cells=16, **kw)
        cap = kw.get("max_candidates", {"category": 1000, "bm25": 200}.get(mode))
        want = [
            reference(rows, X, windows, t, mode, L, kw.get("field_index"), qcols, idf, cap) for t in targets
        ]
        np.testing.assert_array_equal(
            got, np.array(want, dtype=np.int64).reshape(-1, L), err_msg=f"{mode} {kw}"
        )
        assert got.dtype == np.int64 and got.shape == (len(targets), L)


def test_no_row_at_or_after_the_target_and_only_own_user() -> None:
    rows, X, windows = setup(5)
    users, ts = rows[USER_ID].to_numpy(), rows[TS].to_numpy()
    idf = field_idf(X[:, 1:], "lucene")
    t = np.arange(len(rows))
    for mode, kw in [
        ("recent", {}),
        ("category", {"field_index": 2}),
        ("bm25", {"query_field_idx": [1, 2, 3], "idf": idf}),
    ]:
        got = select_histories(X, users, windows, t, mode=mode, length=8, **kw)
        valid = got != PAD
        tt = np.broadcast_to(t[:, None], got.shape)
        assert (ts[got[valid]] < ts[tt[valid]]).all(), mode
        assert (users[got[valid]] == users[tt[valid]]).all(), mode
        # left padding: once valid, valid to the end; chronological
        assert (np.diff(valid.astype(int), axis=1) >= 0).all()
        g = np.where(valid, got, -1)
        assert (np.diff(g, axis=1)[valid[:, 1:] & valid[:, :-1]] > 0).all()


def test_recent_equals_gather_windows_and_reaches_past_the_window_length() -> None:
    rows, X, windows = setup(6)
    users, t = rows[USER_ID].to_numpy(), np.arange(len(rows))
    short = select_histories(X, users, windows, t, mode="recent", length=4)
    np.testing.assert_array_equal(short, gather_windows(windows["pool_index"], windows["hist_lo"][t],
                                                        windows["hist_hi"][t], 4))  # fmt: skip
    long = select_histories(X, users, windows, t, mode="recent", length=12)  # windows were built with L = 4
    assert ((long != PAD).sum(1) > 4).any()
    np.testing.assert_array_equal(long[:, -4:], short)


def test_empty_histories_and_empty_target_list() -> None:
    rows, X, windows = setup(7)
    users = rows[USER_ID].to_numpy()
    firsts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])  # each user's first row: nothing before
    idf = field_idf(X[:, 1:])
    for mode, kw in [
        ("recent", {}),
        ("category", {"field_index": 2}),
        ("bm25", {"query_field_idx": [1, 2, 3], "idf": idf}),
    ]:
        assert (select_histories(X, users, windows, firsts, mode=mode, length=5, **kw) == PAD).all()
        empty = select_histories(X, users, windows, np.zeros(0, np.int64), mode=mode, length=5, **kw)
        assert empty.shape == (0, 5) and empty.dtype == np.int64


def test_one_per_group_pool_skips_negatives_of_retrieval_groups() -> None:
    rows, X = random_table(8)
    rows[GROUP_ID] = np.arange(
        len(rows)
    )  # every row its own group: the pool is the retrieval rows + positives
    windows = build_windows(rows, WindowConfig(length=3))
    users = rows[USER_ID].to_numpy()
    got = select_histories(X, users, windows, np.arange(len(rows)), mode="category", length=5, field_index=2)
    pool = set(windows["pool_index"].tolist())
    assert set(got[got != PAD].tolist()) <= pool


def test_category_and_bm25_hand_case() -> None:
    # one user, 6 rows at ts 0..5; the target is row 5. Fields: user, item, category.
    X = np.array([[1, 3, 2], [1, 4, 1], [1, 3, 1], [1, 5, 2], [1, 6, 2], [1, 3, 2]], np.int64)
    rows = pd.DataFrame({ROW_ID: np.arange(6), USER_ID: np.ones(6, int), TS: np.arange(6),
                         LABEL: np.ones(6, np.int8), PERIOD: np.full(6, RETRIEVAL, np.int8)})  # fmt: skip
    windows = build_windows(rows, WindowConfig(length=2, retrieval_pool="all"))
    users, t = np.ones(6, np.int64), np.array([5])
    assert select_histories(X, users, windows, t, mode="category", length=2, field_index=2).tolist() == [
        [3, 4]
    ]
    assert select_histories(X, users, windows, t, mode="category", length=5, field_index=2).tolist() == [
        [PAD, PAD, 0, 3, 4]
    ]
    assert select_histories(X, users, windows, t, mode="category", length=5, field_index=2,
                            max_candidates=2).tolist() == [[PAD, PAD, PAD, 3, 4]]  # fmt: skip
    idf = [
        np.array([0.0, 0.0, 0.0, 2.0, 1.0, 1.0, 1.0]),
        np.array([0.0, 1.5, 0.5]),
    ]  # item 3: 2.0, category 2: 0.5
    # scores of rows 0..4: 2.5, 0, 2.0, 0.5, 0.5 -> top 3 = rows 0, 2 and the more recent 0.5 (row 4)
    got = select_histories(X, users, windows, t, mode="bm25", length=3, query_field_idx=[1, 2], idf=idf)
    assert got.tolist() == [[0, 2, 4]]
    # all scores equal (no query field matches anything): the most recent rows, like "recent"
    zero = [np.zeros(7), np.zeros(3)]
    got = select_histories(X, users, windows, t, mode="bm25", length=3, query_field_idx=[1, 2], idf=zero)
    assert got.tolist() == [[2, 3, 4]]


def test_field_idf_equals_the_bm25_index_idf_for_every_variant() -> None:
    rng = np.random.default_rng(0)
    keys = np.stack([rng.integers(0, 6, 300), rng.integers(0, 3, 300), rng.integers(1, 40, 300)], 1)
    for variant in ("paper", "rank_bm25", "lucene"):
        index = BM25Index.build(
            keys, np.arange(300), np.zeros(300, np.int64), np.arange(300), BM25Config(idf=variant)
        )
        for a, b in zip(field_idf(keys, variant), index_idf(index), strict=True):
            np.testing.assert_allclose(a, b, rtol=0, atol=0)


def test_make_history_fn_and_bad_arguments() -> None:
    rows, X, windows = setup(9)
    users = rows[USER_ID].to_numpy()
    fn = make_history_fn(X, users, windows, mode="category", length=4, field_index=2)
    t = np.arange(0, len(rows), 3)
    np.testing.assert_array_equal(
        fn(t), select_histories(X, users, windows, t, mode="category", length=4, field_index=2)
    )
    with pytest.raises(DataError, match="unknown mode"):
        select_histories(X, users, windows, t, mode="din", length=4)  # type: ignore[arg-type]
    with pytest.raises(DataError, match="field_index"):
        select_histories(X, users, windows, t, mode="category", length=4)
    with pytest.raises(DataError, match="query_field_idx"):
        select_histories(
            X, users, windows, t, mode="bm25", length=4, query_field_idx=[1, 2], idf=[np.ones(3)]
        )
    with pytest.raises(DataError, match="target ids"):
        select_histories(X, users, windows, np.array([len(rows)]), mode="recent", length=4)
