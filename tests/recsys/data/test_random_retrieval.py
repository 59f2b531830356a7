"""Random retrieval control: eligibility (other users, earlier), -1 padding, determinism, uniformity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from liftrec.recsys.data.random_retrieval import random_retrieval, random_retrieval_for_rows
from liftrec.recsys.errors import DataError
from liftrec.recsys.schema import PERIOD, RETRIEVAL, ROW_ID, TRAIN, TS, USER_ID


def pool(seed: int, n: int = 60, n_users: int = 5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (
        rng.permutation(n) * 3 + 7,
        rng.integers(1, n_users + 1, n),
        rng.integers(0, 20, n),
    )  # ids, users, ts


def eligible(ids, users, ts, u, t, exclude=True):
    return {int(i) for i, uu, tt in zip(ids, users, ts, strict=True) if tt < t and (uu != u or not exclude)}


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("exclude", [True, False])
def test_only_eligible_rows_distinct_and_padded_exactly(seed: int, exclude: bool) -> None:
    ids, users, ts = pool(seed)
    rng = np.random.default_rng(seed)
    qu, qt = rng.integers(0, 7, 300), rng.integers(-1, 23, 300)  # users 0 and 6 own no retrieval row
    K = 8
    got = random_retrieval(
        ids, users, ts, qu, qt, K, np.random.default_rng(1), exclude_own_user=exclude, chunk_rows=64
    )
    assert got.shape == (300, K) and got.dtype == np.int64
    for row, u, t in zip(got, qu, qt, strict=True):
        elig = eligible(ids, users, ts, u, t, exclude)
        found = row[row >= 0]
        assert len(found) == min(K, len(elig))  # -1 exactly where fewer than K are eligible
        assert (row[len(found) :] == -1).all()  # found first
        assert len(set(found.tolist())) == len(found) and set(found.tolist()) <= elig
        ts_of = dict(zip(ids.tolist(), ts.tolist(), strict=True))
        order = [(ts_of[i], i) for i in found.tolist()]
        assert order == sorted(order, reverse=True)  # latest first


def test_never_own_user_never_at_or_after_target_time() -> None:
    ids, users, ts = pool(3, n=400, n_users=4)
    qu, qt = np.repeat([1, 2, 3, 4], 50), np.tile(np.arange(50) % 21, 4)
    got = random_retrieval(ids, users, ts, qu, qt, 10, np.random.default_rng(0))
    where = {int(i): k for k, i in enumerate(ids)}
    valid = got >= 0
    idx = np.vectorize(where.get)(np.where(valid, got, ids[0]))
    assert (users[idx][valid] != np.broadcast_to(qu[:, None], got.shape)[valid]).all()
    assert (ts[idx][valid] < np.broadcast_to(qt[:, None], got.shape)[valid]).all()


def test_deterministic_per_seed() -> None:
    ids, users, ts = pool(4, n=200)
    qu, qt = np.arange(100) % 6, np.full(100, 15)
    a = random_retrieval(ids, users, ts, qu, qt, 5, np.random.default_rng(42))
    b = random_retrieval(ids, users, ts, qu, qt, 5, np.random.default_rng(42))
    c = random_retrieval(ids, users, ts, qu, qt, 5, np.random.default_rng(43))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_uniform_over_eligible_rows() -> None:
    # 30 rows: user 1 owns positions 3, 4, 10; the target (user 1, ts 20) has 26 eligible rows (ts < 20)
    n = 30
    ids, ts = np.arange(n), np.arange(n)
    users = np.full(n, 2)
    users[[3, 4, 10]] = 1
    Q, K = 20000, 4
    got = random_retrieval(ids, users, ts, np.ones(Q, np.int64), np.full(Q, 20), K, np.random.default_rng(0))
    counts = np.bincount(got.ravel(), minlength=n)
    elig = [i for i in range(20) if i not in (3, 4, 10)]
    assert counts[[3, 4, 10]].sum() == 0 and counts[20:].sum() == 0
    expected = Q * K / len(elig)  # 4705.9
    assert np.abs(counts[elig] - expected).max() < 5 * np.sqrt(expected)  # ~ 5 sigma


def test_empty_pool_and_bad_arguments() -> None:
    e = np.zeros(0, np.int64)
    got = random_retrieval(e, e, e, np.array([1, 2]), np.array([5, 6]), 3, np.random.default_rng(0))
    assert (got == -1).all() and got.shape == (2, 3)
    with pytest.raises(DataError, match="k must be"):
        random_retrieval(e, e, e, e, e, 0, np.random.default_rng(0))
    with pytest.raises(DataError, match="must be"):
        random_retrieval(np.arange(3), np.arange(2), np.arange(3), e, e, 1, np.random.default_rng(0))


def test_for_rows_matches_the_bm25_stage_contract() -> None:
    rows = pd.DataFrame({
        ROW_ID: np.arange(8), USER_ID: [1, 1, 1, 2, 2, 3, 3, 3], TS: [0, 1, 5, 0, 6, 2, 3, 7],
        PERIOD: [RETRIEVAL, RETRIEVAL, TRAIN, RETRIEVAL, TRAIN, RETRIEVAL, RETRIEVAL, TRAIN],
    })  # fmt: skip
    out = random_retrieval_for_rows(rows, 4, np.random.default_rng(0))
    assert out["target_ids"].tolist() == [2, 4, 7]
    assert out["row_ids"].shape == (3, 4) and out["scores"].shape == (3, 4)
    assert sorted(out["row_ids"][0][out["row_ids"][0] >= 0].tolist()) == [3, 5, 6]  # other users, ts < 5
    assert sorted(out["row_ids"][2][out["row_ids"][2] >= 0].tolist()) == [0, 1, 3]
    assert (
        np.isneginf(out["scores"][out["row_ids"] < 0]).all()
        and (out["scores"][out["row_ids"] >= 0] == 0).all()
    )
