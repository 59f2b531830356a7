"""The numba engine returns the rank-bm25 oracle's top-K row for row, on randomised tables, under
every tie rule; the ``shuffled`` rule is seeded, order-free and unbiased in time."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liftrec.recsys.retrieval.bm25 import BM25Config, BM25Index, RetrievalResult, tie_order
from liftrec.recsys.retrieval.oracle import OracleBM25

VARIANTS = ("paper", "rank_bm25", "lucene")
TIES = ("shuffled", "latest")


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


@pytest.mark.parametrize("tie", TIES)
@pytest.mark.parametrize("idf", VARIANTS)
@pytest.mark.parametrize("seed", range(6))
def test_engine_equals_oracle_randomised(idf: str, seed: int, tie: str) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.choice([40, 300, 2500]))
    f = int(rng.integers(2, 7))
    t = make_table(rng, n, f, majority=seed % 2 == 0, missing=0.1 if seed % 3 == 0 else 0.0)
    qs = make_queries(rng, t, 25)
    for exclude in (False, True):
        k = int(rng.integers(1, 16))
        cfg = BM25Config(k=k, idf=idf, exclude_own_user=exclude, tie_break=tie, tie_seed=seed)
        for users, max_ts in ((False, False), (True, False), (False, True), (True, True)):
            assert_same(*run_both(t, qs, cfg, users=users, max_ts=max_ts))


@pytest.mark.parametrize("tie", TIES)
@pytest.mark.parametrize("idf", VARIANTS)
def test_majority_value_negative_idf(idf: str, tie: str) -> None:
    """A field where one value covers ~85 % of rows: its paper IDF is negative, handled exactly."""
    rng = np.random.default_rng(7)
    t = make_table(rng, 2000, 4, majority=True)
    qs = make_queries(rng, t, 30)
    qs["keys"][:, 1] = 1  # every query carries the majority value
    cfg = BM25Config(k=12, idf=idf, tie_break=tie)
    engine, oracle = run_both(t, qs, cfg, users=True, max_ts=False)
    assert_same(engine, oracle)
    if idf == "paper":  # matching the majority value lowers the score, so top rows avoid it
        index = BM25Index.build(t["keys"], t["row_ids"], t["users"], t["ts"], cfg)
        assert index.idf[index.field_off[1] + 1] < 0


@pytest.mark.parametrize("tie", TIES)
@pytest.mark.parametrize("idf", VARIANTS)
def test_k_larger_than_candidates_pads(idf: str, tie: str) -> None:
    rng = np.random.default_rng(3)
    t = make_table(rng, 30, 3, majority=False)
    qs = make_queries(rng, t, 10)
    engine, oracle = run_both(t, qs, BM25Config(idf=idf, tie_break=tie), users=True, max_ts=True, k=40)
    assert_same(engine, oracle)
    pad = engine.row_ids == -1
    assert pad.any() and np.isneginf(engine.scores[pad]).all()
    assert (pad[:, 1:] >= pad[:, :-1]).all()  # padding only at the end


@pytest.mark.parametrize("tie", TIES)
def test_no_candidate_at_all(tie: str) -> None:
    rng = np.random.default_rng(4)
    t = make_table(rng, 50, 3, majority=False)
    index = BM25Index.build(t["keys"], t["row_ids"], t["users"], t["ts"], BM25Config(k=5, tie_break=tie))
    res = index.search(t["keys"][:3], max_ts=np.full(3, t["ts"].min()))  # nothing is older
    assert (res.row_ids == -1).all() and np.isneginf(res.scores).all()


def tied_table(rng: np.random.Generator, n: int) -> dict:
    """Few distinct rows and repeated timestamps: the tie rule decides most of every top-K."""
    keys = rng.integers(1, 3, (n, 3))
    return dict(keys=keys, row_ids=rng.permutation(n), users=rng.integers(0, 5, n), ts=rng.integers(0, 3, n))


@pytest.mark.parametrize("tie", TIES)
@pytest.mark.parametrize("idf", VARIANTS)
def test_ties_everywhere(idf: str, tie: str) -> None:
    """Few distinct rows, equal timestamps: the order is decided by the tie rule alone."""
    rng = np.random.default_rng(11)
    t = tied_table(rng, 600)
    qs = dict(keys=rng.integers(0, 3, (20, 3)), users=rng.integers(0, 5, 20), max_ts=rng.integers(0, 4, 20))
    for users, max_ts in ((False, False), (True, True)):
        cfg = BM25Config(k=25, idf=idf, tie_break=tie)
        assert_same(*run_both(t, qs, cfg, users=users, max_ts=max_ts))


@pytest.mark.parametrize("tie", TIES)
def test_identical_rows_follow_the_tie_order(tie: str) -> None:
    n = 20
    keys = np.ones((n, 2), np.int64)
    ts = np.arange(n) // 4  # groups of 4 rows share a timestamp
    row_ids = np.arange(n)[::-1].copy()
    cfg = BM25Config(k=6, idf="lucene", tie_break=tie, tie_seed=5)
    index = BM25Index.build(keys, row_ids, np.zeros(n, np.int64), ts, cfg)
    res = index.search(np.array([[1, 1]]))
    order = tie_order(row_ids, ts, tie, 5)[:6]
    if tie == "latest":
        np.testing.assert_array_equal(order, np.lexsort((row_ids, ts))[::-1][:6])  # ts, then row_id desc
    np.testing.assert_array_equal(res.row_ids[0], row_ids[order])
    assert len(set(res.scores[0].tolist())) == 1


def test_oracle_with_config_equals_a_fresh_build() -> None:
    rng = np.random.default_rng(5)
    t = tied_table(rng, 200)
    args = (t["keys"], t["row_ids"], t["users"], t["ts"])
    q = rng.integers(0, 3, (10, 3))
    base = OracleBM25.build(*args, BM25Config(k=15, tie_break="latest"))
    for cfg in (BM25Config(k=15, tie_seed=2), BM25Config(k=15, idf="lucene", tie_break="latest")):
        np.testing.assert_array_equal(
            base.with_config(cfg).search(q).row_ids, OracleBM25.build(*args, cfg).search(q).row_ids
        )


def test_shuffled_order_is_a_seeded_function_of_the_row_ids() -> None:
    rng = np.random.default_rng(0)
    row_ids, ts = rng.permutation(500) * 7, rng.integers(0, 50, 500)
    order = tie_order(row_ids, ts, "shuffled", 3)
    assert sorted(order.tolist()) == list(range(500))
    np.testing.assert_array_equal(order, tie_order(row_ids, ts, "shuffled", 3))
    assert not np.array_equal(order, tie_order(row_ids, ts, "shuffled", 4))
    perm = rng.permutation(500)  # the same rows given in another order: the same ranking of row ids
    np.testing.assert_array_equal(
        row_ids[perm][tie_order(row_ids[perm], ts[perm], "shuffled", 3)], row_ids[order]
    )


def test_shuffled_is_deterministic_and_independent_of_batching_and_order() -> None:
    rng = np.random.default_rng(12)
    t = tied_table(rng, 3000)
    qs = dict(
        keys=rng.integers(0, 3, (300, 3)), users=rng.integers(0, 5, 300), max_ts=rng.integers(0, 4, 300)
    )
    args = (t["keys"], t["row_ids"], t["users"], t["ts"])

    def search(cfg: BM25Config, perm: np.ndarray | None = None, rows: np.ndarray | None = None):
        a = args if rows is None else tuple(x[rows] for x in args)
        q = {name: v if perm is None else v[perm] for name, v in qs.items()}
        return BM25Index.build(*a, cfg).search(q["keys"], query_users=q["users"], max_ts=q["max_ts"])

    ref = search(BM25Config(k=20, tie_seed=1))
    for cfg in (
        BM25Config(k=20, tie_seed=1, query_batch=7, threads=1),
        BM25Config(k=20, tie_seed=1, query_batch=64),
    ):
        np.testing.assert_array_equal(search(cfg).row_ids, ref.row_ids)
    perm = rng.permutation(300)  # query order
    np.testing.assert_array_equal(search(BM25Config(k=20, tie_seed=1), perm=perm).row_ids, ref.row_ids[perm])
    rows = rng.permutation(3000)  # indexed row order
    np.testing.assert_array_equal(search(BM25Config(k=20, tie_seed=1), rows=rows).row_ids, ref.row_ids)
    # another seed, or the latest rule, picks other rows among the tied ones
    found = ref.row_ids[:, 0] >= 0
    for other in (BM25Config(k=20, tie_seed=2), BM25Config(k=20, tie_break="latest")):
        assert (search(other).row_ids != ref.row_ids)[found].any(axis=1).mean() > 0.9


@pytest.mark.parametrize("tie", TIES)
def test_shuffled_ties_are_not_biased_in_time(tie: str) -> None:
    """All rows tie: ``latest`` returns the K latest rows, ``shuffled`` rows spread over the period."""
    n, k = 2000, 100
    ts = np.arange(n, dtype=np.int64) * 60
    rng = np.random.default_rng(0)
    index = BM25Index.build(
        np.ones((n, 2), np.int64), rng.permutation(n), ts % 97, ts, BM25Config(k=k, tie_break=tie)
    )
    res = index.search(np.array([[1, 1], [0, 0]]), query_users=np.array([3, -1]))
    row_ts = dict(zip(index.pos_row_ids.tolist(), index.pos_ts.tolist(), strict=True))
    quantile = np.array([[row_ts[r] for r in q] for q in res.row_ids.tolist()]) / ts.max()  # 0..1
    if tie == "latest":
        assert quantile.min() > 0.9
    else:  # uniform sample of K of N rows: mean 0.5, sd ~0.03
        assert abs(quantile.mean() - 0.5) < 0.1 and quantile.min() < 0.1 and quantile.max() > 0.9


@settings(max_examples=80, deadline=None)
@given(
    n=st.integers(1, 60),
    f=st.integers(1, 3),
    k=st.integers(1, 8),
    tie=st.sampled_from(TIES),
    idf=st.sampled_from(VARIANTS),
    seed=st.integers(0, 2**16),
)
def test_engine_equals_oracle_property(n: int, f: int, k: int, tie: str, idf: str, seed: int) -> None:
    """Small tables of few values and timestamps (ties everywhere), any rule, any filter."""
    rng = np.random.default_rng(seed)
    t = dict(keys=rng.integers(0, 4, (n, f)), row_ids=rng.permutation(n) * 2, users=rng.integers(0, 4, n),
             ts=rng.integers(0, 5, n))  # fmt: skip
    t["keys"][:, 0] = np.maximum(t["keys"][:, 0], 1)  # rank-bm25 cannot index a corpus without tokens
    qs = dict(keys=rng.integers(0, 5, (6, f)), users=rng.integers(0, 5, 6), max_ts=rng.integers(0, 6, 6))
    cfg = BM25Config(k=k, idf=idf, tie_break=tie, tie_seed=seed % 3, exclude_own_user=bool(seed % 2))
    assert_same(*run_both(t, qs, cfg, users=True, max_ts=bool(seed % 4)))
