"""The numba engine returns the rank-bm25 oracle's top-K row for row, on randomised tables."""

from __future__ import annotations

import numpy as np
import pytest

from liftrec.recsys.retrieval.bm25 import BM25Config, BM25Index, RetrievalResult
from liftrec.recsys.retrieval.oracle import OracleBM25

VARIANTS = ("paper", "rank_bm25", "lucene")


def make_table(rng: np.random.Generator, n: int, f: int, *, majority: bool, missing: float = 0.0) -> dict:
    """Zipf-skewed codes; with ``majority`` field 1 holds value 1 on ~85 % of rows (negative paper IDF)."""
    cards = rng.integers(3, 60, f)
    keys = np.stack([np.minimum(rng.zipf(1.4, n), c) for c in cards], axis=1).astype(np.int64)
    if majority:
        keys[:, 1] = np.where(rng.random(n) < 0.85, 1, rng.integers(2, 5, n))
    if missing:
        keys[rng.random(keys.shape) < missing] = 0
    return dict(
        keys=keys,
        row_ids=rng.permutation(n).astype(np.int64) * 3 + 5,
        users=rng.integers(0, max(2, n // 15), n),
        ts=rng.integers(0, max(2, n // 10), n),  # many equal timestamps: the row_id decides
    )


def make_queries(rng: np.random.Generator, t: dict, q: int) -> dict:
    """Half the queries copy an indexed row (many matches), half are fresh; some values missing."""
    n, f = t["keys"].shape
    fresh = np.stack([np.minimum(rng.zipf(1.4, q), 70) for _ in range(f)], axis=1)
    pick = t["keys"][rng.integers(0, n, q)]
    keys = np.where(rng.random((q, 1)) < 0.5, pick, fresh)
    keys[rng.random(keys.shape) < 0.15] = 0
    keys[0] = 0  # the empty query: every eligible row scores 0
    users = np.where(rng.random(q) < 0.7, t["users"][rng.integers(0, n, q)], -5)
    max_ts = rng.integers(0, t["ts"].max() + 2, q)
    return dict(keys=keys, users=users, max_ts=max_ts)


def assert_same(engine: RetrievalResult, oracle: RetrievalResult) -> None:
    np.testing.assert_array_equal(engine.row_ids, oracle.row_ids)
    np.testing.assert_allclose(engine.scores, oracle.scores, rtol=0, atol=1e-9)
    assert engine.row_ids.dtype == np.int64 and engine.scores.dtype == np.float64


def run_both(t: dict, qs: dict, cfg: BM25Config, *, users: bool, max_ts: bool, k: int | None = None):
    args = (t["keys"], t["row_ids"], t["users"], t["ts"], cfg)
    kwargs = dict(query_users=qs["users"] if users else None, max_ts=qs["max_ts"] if max_ts else None, k=k)
    engine = BM25Index.build(*args).search(qs["keys"], **kwargs)
    return engine, OracleBM25.build(*args).search(qs["keys"], **kwargs)


@pytest.mark.parametrize("idf", VARIANTS)
@pytest.mark.parametrize("seed", range(6))
def test_engine_equals_oracle_randomised(idf: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.choice([40, 300, 2500]))
    f = int(rng.integers(2, 7))
    t = make_table(rng, n, f, majority=seed % 2 == 0, missing=0.1 if seed % 3 == 0 else 0.0)
    qs = make_queries(rng, t, 25)
    for exclude in (False, True):
        cfg = BM25Config(k=int(rng.integers(1, 16)), idf=idf, exclude_own_user=exclude)
        for users, max_ts in ((False, False), (True, False), (False, True), (True, True)):
            assert_same(*run_both(t, qs, cfg, users=users, max_ts=max_ts))


@pytest.mark.parametrize("idf", VARIANTS)
def test_majority_value_negative_idf(idf: str) -> None:
    """A field where one value covers ~85 % of rows: its paper IDF is negative, handled exactly."""
    rng = np.random.default_rng(7)
    t = make_table(rng, 2000, 4, majority=True)
    qs = make_queries(rng, t, 30)
    qs["keys"][:, 1] = 1  # every query carries the majority value
    cfg = BM25Config(k=12, idf=idf)
    engine, oracle = run_both(t, qs, cfg, users=True, max_ts=False)
    assert_same(engine, oracle)
    if idf == "paper":  # matching the majority value lowers the score, so top rows avoid it
        index = BM25Index.build(t["keys"], t["row_ids"], t["users"], t["ts"], cfg)
        assert index.idf[index.field_off[1] + 1] < 0


@pytest.mark.parametrize("idf", VARIANTS)
def test_k_larger_than_candidates_pads(idf: str) -> None:
    rng = np.random.default_rng(3)
    t = make_table(rng, 30, 3, majority=False)
    qs = make_queries(rng, t, 10)
    engine, oracle = run_both(t, qs, BM25Config(idf=idf), users=True, max_ts=True, k=40)
    assert_same(engine, oracle)
    pad = engine.row_ids == -1
    assert pad.any() and np.isneginf(engine.scores[pad]).all()
    assert (pad[:, 1:] >= pad[:, :-1]).all()  # padding only at the end


def test_no_candidate_at_all() -> None:
    rng = np.random.default_rng(4)
    t = make_table(rng, 50, 3, majority=False)
    index = BM25Index.build(t["keys"], t["row_ids"], t["users"], t["ts"], BM25Config(k=5))
    res = index.search(t["keys"][:3], max_ts=np.full(3, t["ts"].min()))  # nothing is older
    assert (res.row_ids == -1).all() and np.isneginf(res.scores).all()


@pytest.mark.parametrize("idf", VARIANTS)
def test_ties_everywhere(idf: str) -> None:
    """Few distinct rows, equal timestamps: the order is decided by the tie rule alone."""
    rng = np.random.default_rng(11)
    n = 600
    keys = rng.integers(1, 3, (n, 3))
    t = dict(keys=keys, row_ids=rng.permutation(n), users=rng.integers(0, 5, n), ts=rng.integers(0, 3, n))
    qs = dict(keys=rng.integers(0, 3, (20, 3)), users=rng.integers(0, 5, 20), max_ts=rng.integers(0, 4, 20))
    for users, max_ts in ((False, False), (True, True)):
        assert_same(*run_both(t, qs, BM25Config(k=25, idf=idf), users=users, max_ts=max_ts))


def test_identical_rows_order_latest_first() -> None:
    n = 20
    keys = np.ones((n, 2), np.int64)
    ts = np.arange(n) // 4  # groups of 4 rows share a timestamp
    row_ids = np.arange(n)[::-1].copy()
    index = BM25Index.build(keys, row_ids, np.zeros(n, np.int64), ts, BM25Config(k=6, idf="lucene"))
    res = index.search(np.array([[1, 1]]))
    order = np.lexsort((row_ids, ts))[::-1][:6]  # ts desc, then row_id desc
    np.testing.assert_array_equal(res.row_ids[0], row_ids[order])
    assert len(set(res.scores[0].tolist())) == 1
