"""BM25 scores against the formula by hand, and the reduction of BM25Okapi to a sum of IDFs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from liftrec.recsys.config import from_dict
from liftrec.recsys.errors import ConfigError, DataError
from liftrec.recsys.retrieval.bm25 import BM25Config, BM25Index, compute_idf, make_retriever
from liftrec.recsys.retrieval.oracle import OracleBM25

# 4 rows, 2 fields. df: f0=1 -> 3 rows, f0=2 -> 1, f1=1 -> 2, f1=2 -> 1, f1=3 -> 1.
KEYS = np.array([[1, 1], [1, 2], [2, 1], [1, 3]])
ROW_IDS = np.array([100, 101, 102, 103])
USERS = np.array([7, 8, 9, 7])
TS = np.array([10, 20, 30, 40])
QUERY = np.array([[1, 2]])


def _search(idf: str, **kwargs) -> tuple[list[int], np.ndarray]:
    cfg = BM25Config(k=4, idf=idf, tie_break="latest")  # hand-computed orders: ties by ts
    engine = BM25Index.build(KEYS, ROW_IDS, USERS, TS, cfg)
    oracle = OracleBM25.build(KEYS, ROW_IDS, USERS, TS, cfg)
    a, b = engine.search(QUERY, **kwargs), oracle.search(QUERY, **kwargs)
    np.testing.assert_array_equal(a.row_ids, b.row_ids)
    np.testing.assert_allclose(a.scores, b.scores, rtol=0, atol=1e-12)
    return a.row_ids[0].tolist(), a.scores[0]


def test_paper_idf_by_hand_negative_idf_and_ties() -> None:
    common, rare = math.log(1.5 / 3.5), math.log(3.5 / 1.5)  # n = 3 of 4 rows (negative), n = 1
    ids, scores = _search("paper")
    # r1 matches both tokens: common + rare = 0; r2 matches none: 0 -> tie, latest (r2, ts 30) first;
    # r3 and r0 match only the common value: negative, below the non-matching row; r3 is later.
    assert ids == [102, 101, 103, 100]
    np.testing.assert_allclose(scores, [0.0, common + rare, common, common], atol=1e-15)
    assert scores[2] < 0


def test_exclusion_and_time_cut_by_hand() -> None:
    ids, scores = _search("paper", query_users=np.array([7]))  # rows 100 and 103 are user 7's
    assert ids == [102, 101, -1, -1] and np.isneginf(scores[2:]).all()
    ids, _ = _search("paper", max_ts=np.array([30]))  # only ts < 30: rows 100, 101
    assert ids == [101, 100, -1, -1]


def test_lucene_idf_by_hand() -> None:
    common, rare = math.log(1 + 1.5 / 3.5), math.log(1 + 3.5 / 1.5)
    ids, scores = _search("lucene")
    assert ids == [101, 103, 100, 102]
    np.testing.assert_allclose(scores, [common + rare, common, common, 0.0], rtol=1e-15)


def test_rank_bm25_idf_by_hand_matches_bm25okapi() -> None:
    raw = {"0:1": math.log(1.5 / 3.5), "0:2": math.log(3.5 / 1.5), "1:1": 0.0, "1:2": math.log(3.5 / 1.5)}
    raw["1:3"] = raw["1:2"]
    eps = 0.25 * sum(raw.values()) / len(raw)  # the floor for the negative "0:1"
    okapi = BM25Okapi([[f"{j}:{v}" for j, v in enumerate(row)] for row in KEYS.tolist()])
    assert okapi.idf["0:1"] == pytest.approx(eps, abs=1e-15)
    ids, scores = _search("rank_bm25")
    assert ids == [101, 103, 100, 102]
    np.testing.assert_allclose(scores, [eps + raw["1:2"], eps, eps, 0.0], atol=1e-15)
    np.testing.assert_allclose(scores, np.sort(okapi.get_scores(["0:1", "1:2"]))[::-1], atol=1e-15)


@pytest.mark.parametrize("k1,b", [(1.5, 0.75), (1.2, 0.3), (2.0, 1.0)])
def test_bm25okapi_reduces_to_sum_of_idf(k1: float, b: float) -> None:
    """One token per field (tf = 1) and equal lengths: tf*(k1+1)/(tf + k1*(1-b+b*dl/avgdl)) == 1.0."""
    rng = np.random.default_rng(0)
    keys = np.minimum(rng.zipf(1.5, (300, 4)), 30)
    corpus = [[f"{j}:{v}" for j, v in enumerate(row)] for row in keys.tolist()]
    okapi = BM25Okapi(corpus, k1=k1, b=b)
    for q in np.minimum(rng.zipf(1.5, (20, 4)), 30).tolist():
        tokens = [f"{j}:{v}" for j, v in enumerate(q)]
        expected = np.zeros(len(corpus))
        for t in tokens:  # the sum in field order, bit for bit
            expected += np.array([okapi.idf.get(t, 0.0) if t in doc else 0.0 for doc in corpus])
        np.testing.assert_array_equal(okapi.get_scores(tokens), expected)


def test_missing_values_break_the_reduction_so_the_formula_rules() -> None:
    """With a missing field the document is shorter and BM25Okapi's length term departs from 1;
    the engine and the oracle implement DESIGN.md's sum of IDFs instead."""
    keys = np.array([[1, 1], [1, 0], [2, 1], [2, 2], [3, 3]])
    okapi = BM25Okapi([[f"{j}:{v}" for j, v in enumerate(r) if v] for r in keys.tolist()])
    assert okapi.get_scores(["0:1"])[1] != okapi.idf["0:1"]
    cfg = BM25Config(k=5, idf="rank_bm25")
    index = BM25Index.build(keys, np.arange(5), np.arange(5), np.zeros(5, np.int64), cfg)
    res = index.search(np.array([[1, 0]]))
    assert res.scores[0, 0] == okapi.idf["0:1"]


def test_compute_idf_variants() -> None:
    df = np.array([0, 1, 5, 8, 10])
    n = 10
    paper = compute_idf(df, n, "paper")
    assert paper[0] == 0.0 and paper[3] < 0 < paper[1]
    np.testing.assert_allclose(paper[1:], np.log((n - df[1:] + 0.5) / (df[1:] + 0.5)))
    lucene = compute_idf(df, n, "lucene")
    assert (lucene[1:] > 0).all()
    rb = compute_idf(df, n, "rank_bm25")
    raw = np.log(n - df[1:] + 0.5) - np.log(df[1:] + 0.5)
    np.testing.assert_allclose(rb[1:], np.where(raw < 0, 0.25 * raw.mean(), raw))


def test_config_from_dict_and_validation() -> None:
    cfg = from_dict(BM25Config, {"k": 15, "idf": "lucene", "exclude_own_user": False}, "retrieval")
    assert cfg.k == 15 and cfg.idf == "lucene"
    with pytest.raises(ConfigError, match="retrieval.top_k"):
        from_dict(BM25Config, {"top_k": 3}, "retrieval")
    with pytest.raises(ConfigError, match="retrieval.idf"):
        from_dict(BM25Config, {"idf": "okapi"}, "retrieval")
    with pytest.raises(ConfigError, match="retrieval.k"):
        from_dict(BM25Config, {"k": 0}, "retrieval")
    assert BM25Config().tie_break == "shuffled"
    cfg = from_dict(BM25Config, {"tie_break": "latest", "tie_seed": 3}, "retrieval")
    assert (cfg.tie_break, cfg.tie_seed) == ("latest", 3)
    with pytest.raises(ConfigError, match="retrieval.tie_break"):
        from_dict(BM25Config, {"tie_break": "random"}, "retrieval")
    with pytest.raises(ConfigError, match="retrieval.tie_seed"):
        from_dict(BM25Config, {"tie_seed": -1}, "retrieval")


def test_bad_inputs_raise() -> None:
    with pytest.raises(DataError, match="keys"):
        BM25Index.build(np.ones(4), np.arange(4), np.arange(4), np.arange(4), BM25Config())
    with pytest.raises(DataError, match="dense codes"):
        BM25Index.build(-KEYS, ROW_IDS, USERS, TS, BM25Config())
    with pytest.raises(DataError, match="ts"):
        BM25Index.build(KEYS, ROW_IDS, USERS, TS[:3], BM25Config())
    index = BM25Index.build(KEYS, ROW_IDS, USERS, TS, BM25Config())
    with pytest.raises(DataError, match="fields"):
        index.search(np.ones((2, 3), np.int64))


def test_make_retriever_kinds_agree() -> None:
    cfg = BM25Config(k=3)
    engine = make_retriever("engine", KEYS, ROW_IDS, USERS, TS, cfg)
    oracle = make_retriever("oracle", KEYS, ROW_IDS, USERS, TS, cfg)
    np.testing.assert_array_equal(engine.search(QUERY).row_ids, oracle.search(QUERY).row_ids)
    with pytest.raises(ValueError, match="kind"):
        make_retriever("faiss", KEYS, ROW_IDS, USERS, TS, cfg)
