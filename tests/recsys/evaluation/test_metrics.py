"""Metrics against hand-computed values and scikit-learn; significance tests against scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest

from liftrec.recsys.errors import DataError
from liftrec.recsys.evaluation import (
    auc,
    logloss,
    paired_bootstrap,
    paired_bootstrap_mean,
    paired_t_test,
    sign_flip_test,
    topn_metrics,
    topn_per_group,
)
from liftrec.recsys.evaluation.metrics import average_ranks
from liftrec.recsys.evaluation.significance import betainc_regularized

sklearn_metrics = pytest.importorskip("sklearn.metrics")


# ---------------------------------------------------------------- AUC / LogLoss


def test_auc_hand_computed_with_ties() -> None:
    # pairs (pos, neg): (0.8,0.1)=1 (0.8,0.4)=1 (0.4,0.1)=1 (0.4,0.4)=1/2 -> 3.5 / 4
    assert auc([1, 0, 1, 0], [0.8, 0.1, 0.4, 0.4]) == pytest.approx(0.875)
    assert auc([0, 1], [0.3, 0.3]) == 0.5
    assert auc([0, 0, 1], [0.1, 0.2, 0.3]) == 1.0
    assert auc([1, 1, 0], [0.1, 0.2, 0.3]) == 0.0


def test_average_ranks_matches_scipy() -> None:
    stats = pytest.importorskip("scipy.stats")
    v = np.random.default_rng(0).integers(0, 7, 200)
    np.testing.assert_allclose(average_ranks(v), stats.rankdata(v))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auc_and_logloss_match_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 5000)
    p = np.clip(0.5 * y + rng.random(5000) * 0.6, 0.01, 0.99)
    coarse = np.round(p, 1)  # many ties
    assert auc(y, p) == pytest.approx(sklearn_metrics.roc_auc_score(y, p), abs=1e-12)
    assert auc(y, coarse) == pytest.approx(sklearn_metrics.roc_auc_score(y, coarse), abs=1e-12)
    assert logloss(y, p) == pytest.approx(sklearn_metrics.log_loss(y, p), abs=1e-10)


def test_logloss_clips_and_hand_value() -> None:
    assert logloss([1, 0], [0.5, 0.5]) == pytest.approx(math.log(2))
    assert math.isfinite(logloss([1, 0], [0.0, 1.0]))
    assert logloss([1, 0], [0.0, 1.0], eps=1e-7) == pytest.approx(-math.log(1e-7), rel=1e-6)


def test_auc_errors() -> None:
    with pytest.raises(DataError, match="both classes"):
        auc([1, 1], [0.1, 0.2])
    with pytest.raises(DataError, match="NaN"):
        auc([1, 0], [np.nan, 0.2])
    with pytest.raises(DataError, match="labels has 2"):
        auc([1, 0], [0.1, 0.2, 0.3])


# ---------------------------------------------------------------- top-N


def _groups(n_groups: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    g = np.repeat(np.arange(n_groups) * 7 + 3, size)  # arbitrary ids
    y = np.tile(np.r_[1, np.zeros(size - 1, dtype=int)], n_groups)
    return g, y


def test_topn_hand_computed() -> None:
    # group 10: positive 0.5 vs 0.9, 0.5 (tie), 0.1 -> pessimistic rank 3
    # group 20: positive 0.9 vs 0.2, 0.3, 0.4 -> rank 1
    g = np.array([10, 10, 10, 10, 20, 20, 20, 20])
    y = np.array([1, 0, 0, 0, 0, 1, 0, 0])
    s = np.array([0.5, 0.9, 0.5, 0.1, 0.2, 0.9, 0.3, 0.4])
    m = topn_metrics(g, y, s, ks=(1, 2, 3))
    assert m["HR@1"] == 0.5 and m["HR@2"] == 0.5 and m["HR@3"] == 1.0
    assert m["NDCG@2"] == pytest.approx(0.5)
    assert m["NDCG@3"] == pytest.approx((1.0 + 1.0 / math.log2(4)) / 2)
    assert m["MRR"] == pytest.approx((1.0 + 1.0 / 3.0) / 2)
    per = topn_per_group(g, y, s, ks=(1,))
    np.testing.assert_array_equal(per["group"], [10, 20])
    np.testing.assert_allclose(per["MRR"], [1 / 3, 1.0])


def test_topn_default_keys_and_row_order_invariance() -> None:
    rng = np.random.default_rng(0)
    g, y = _groups(50, 101)
    s = rng.random(g.size)
    m = topn_metrics(g, y, s)
    assert list(m) == ["HR@1", "HR@5", "HR@10", "NDCG@5", "NDCG@10", "MRR"]
    perm = rng.permutation(g.size)
    assert topn_metrics(g[perm], y[perm], s[perm]) == m


def test_constant_scorer_is_pessimistic() -> None:
    g, y = _groups(20, 101)
    m = topn_metrics(g, y, np.zeros(g.size))
    assert m["HR@1"] == m["HR@5"] == m["HR@10"] == 0.0  # NOT 10/101, and certainly not 1.0
    assert m["NDCG@10"] == 0.0
    assert m["MRR"] == pytest.approx(1 / 101)


def test_perfect_scorer_gets_ones() -> None:
    g, y = _groups(20, 101)
    s = y + np.random.default_rng(1).random(g.size) * 0.5
    assert all(v == 1.0 for v in topn_metrics(g, y, s).values())


def test_random_scorer_hr_matches_expectation() -> None:
    g, y = _groups(4000, 101)
    m = topn_metrics(g, y, np.random.default_rng(2).random(g.size))
    assert m["HR@10"] == pytest.approx(10 / 101, abs=0.015)


@pytest.mark.parametrize("labels_fix", ["none", "two"])
def test_topn_bad_groups_named(labels_fix: str) -> None:
    g, y = _groups(3, 4)
    y = y.copy()
    if labels_fix == "none":
        y[4] = 0  # second group (id 10) loses its positive
        expected = "group 10 (0 positives)"
    else:
        y[5] = 1
        expected = "group 10 (2 positives)"
    with pytest.raises(DataError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        topn_metrics(g, y, np.zeros(g.size))


# ---------------------------------------------------------------- significance


def test_betainc_and_t_test_match_scipy() -> None:
    stats = pytest.importorskip("scipy.stats")
    special = pytest.importorskip("scipy.special")
    for a, b, x in [(0.5, 0.5, 0.3), (2.0, 0.5, 0.9), (10.0, 3.0, 0.7), (0.7, 20.0, 0.01)]:
        assert betainc_regularized(a, b, x) == pytest.approx(special.betainc(a, b, x), rel=1e-10)
    rng = np.random.default_rng(3)
    for n in (3, 5, 10):
        a = rng.normal(0.80, 0.01, n)
        b = a - rng.normal(0.004, 0.005, n)
        ours, ref = paired_t_test(a, b), stats.ttest_rel(a, b)
        assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-8)
        assert ours.statistic == pytest.approx(float(np.mean(a - b)))


def test_t_test_degenerate() -> None:
    assert paired_t_test([1.0, 2.0], [1.0, 2.0]).p_value == 1.0
    assert paired_t_test([1.0, 2.0], [0.5, 1.5]).p_value == 0.0


def test_sign_flip_exact_values() -> None:
    # all 5 differences positive: only the identity and its mirror reach |mean| -> 2/32
    r = sign_flip_test([2, 3, 4, 5, 6], [1, 1, 1, 1, 1])
    assert r.p_value == pytest.approx(2 / 32) and r.n == 5
    assert sign_flip_test([1, 2, 3], [1, 2, 3]).p_value == 1.0
    big = np.arange(20.0)
    mc = sign_flip_test(big + 1, big, rng=np.random.default_rng(0), n_resamples=2000)
    assert mc.p_value == pytest.approx(1 / 2001)


def test_paired_bootstrap_detects_a_real_gap_and_not_a_null_one() -> None:
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 800)
    noise = rng.normal(size=800)
    good, weak = y + noise, 0.3 * y + noise

    def metric(lab: np.ndarray, s: np.ndarray, _g: np.ndarray) -> float:
        return auc(lab, s)

    r = paired_bootstrap(metric, y, good, weak, rng=np.random.default_rng(0), n_boot=200)
    assert r.statistic > 0 and r.p_value < 0.01 and r.ci_low > 0
    same = paired_bootstrap(metric, y, good, good + 1.0, rng=np.random.default_rng(0), n_boot=50)
    assert same.statistic == 0.0 and same.p_value == 1.0


def test_paired_bootstrap_over_groups_matches_topn() -> None:
    rng = np.random.default_rng(5)
    g, y = _groups(60, 11)
    sa, sb = y * 0.5 + rng.random(g.size), rng.random(g.size)

    def hr5(lab: np.ndarray, s: np.ndarray, grp: np.ndarray) -> float:
        return topn_metrics(grp, lab, s, ks=(5,))["HR@5"]

    r = paired_bootstrap(hr5, y, sa, sb, groups=g, rng=np.random.default_rng(1), n_boot=100)
    assert r.n == 60
    assert r.statistic == pytest.approx(hr5(y, sa, g) - hr5(y, sb, g))
    per_a, per_b = topn_per_group(g, y, sa, (5,))["HR@5"], topn_per_group(g, y, sb, (5,))["HR@5"]
    fast = paired_bootstrap_mean(per_a, per_b, rng=np.random.default_rng(1), n_boot=2000)
    assert fast.statistic == pytest.approx(r.statistic)
    assert (fast.p_value < 0.05) == (r.p_value < 0.05)
