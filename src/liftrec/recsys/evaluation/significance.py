"""Paired significance tests between two models.

DESIGN.md §8 asks for "a significance test between LIFT and the best baseline".

Three tests, numpy and the standard library only (no scipy in the library):

- :func:`paired_bootstrap` - the main test on ONE seed's test set: resample test rows (CTR), or whole
  candidate groups / users (top-N, or clustered CTR) with replacement, recompute the metric for both
  models on the same resample, and report the two-sided percentile p-value of "difference = 0" plus a
  percentile confidence interval. :func:`paired_bootstrap_mean` is its fast form for metrics that are
  means of per-unit values (HR@k, NDCG@k, MRR per group, from ``topn_per_group``).
- :func:`sign_flip_test` - paired permutation test over seeds: under H0 each seed's difference
  a_s - b_s is symmetric about 0, so its sign is exchangeable. Exact (all 2^S sign patterns) for
  S <= 16 seeds. Note its resolution: the smallest two-sided p-value is 2 / 2^S, so 5 seeds can never
  reach p < 0.05 (min 0.0625); use >= 6 seeds or the t-test.
- :func:`paired_t_test` - the classic paired Student t-test over seeds (as in most papers), with the
  t CDF from the regularized incomplete beta function (continued fraction, Numerical Recipes §6.4).

All p-values are two-sided; ``statistic`` is always the observed mean difference a - b.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from liftrec.recsys.errors import DataError


@dataclass(frozen=True)
class TestResult:
    """Outcome of a paired test of model a against model b.

    Attributes:
        method: which test ("paired_bootstrap", "sign_flip", "paired_t").
        statistic: observed difference a - b (of the metric, or mean over seeds).
        p_value: two-sided p-value of "no difference".
        n: number of paired units (resampled units or seeds).
        ci_low: lower end of the (1 - alpha) percentile interval of the difference (bootstrap only).
        ci_high: upper end of that interval (bootstrap only).
    """

    __test__ = False  # not a pytest class despite the name

    method: str
    statistic: float
    p_value: float
    n: int
    ci_low: float | None = None
    ci_high: float | None = None


def _paired(a: np.ndarray, b: np.ndarray, min_n: int) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    if a.shape != b.shape:
        raise DataError(f"paired test: {a.size} values for model a but {b.size} for model b")
    if a.size < min_n:
        raise DataError(f"paired test: needs at least {min_n} pairs, got {a.size}")
    return a - b


def _bootstrap_p(deltas: np.ndarray) -> float:
    # two-sided percentile p-value, +1 smoothing so a finite resample never claims p = 0
    n = deltas.size
    lo = (np.count_nonzero(deltas <= 0) + 1) / (n + 1)
    hi = (np.count_nonzero(deltas >= 0) + 1) / (n + 1)
    return float(min(1.0, 2.0 * min(lo, hi)))


def paired_bootstrap(
    metric: Callable[[np.ndarray, np.ndarray, np.ndarray], float],
    labels: np.ndarray,
    scores_a: np.ndarray,
    scores_b: np.ndarray,
    *,
    rng: np.random.Generator,
    groups: np.ndarray | None = None,
    n_boot: int = 1000,
    alpha: float = 0.05,
) -> TestResult:
    """Paired bootstrap of metric(a) - metric(b) over test rows or over whole groups.

    Args:
        metric: ``metric(labels, scores, groups) -> float``; ``groups`` holds the resample's cluster
            ids, renamed so a cluster drawn twice counts as two groups. E.g.
            ``lambda y, s, g: auc(y, s)`` or ``lambda y, s, g: topn_metrics(g, y, s)["HR@10"]``.
        labels: (n,) labels.
        scores_a: (n,) scores of model a.
        scores_b: (n,) scores of model b, same rows.
        rng: the random generator.
        groups: (n,) cluster ids to resample whole (candidate groups, users); None resamples rows.
        n_boot: number of bootstrap resamples.
        alpha: the interval is the [alpha/2, 1 - alpha/2] percentile range of the differences.

    Returns:
        A :class:`TestResult` with the observed difference, p-value and interval; ``n`` = units.
    """
    labels = np.asarray(labels).reshape(-1)
    sa, sb = np.asarray(scores_a).reshape(-1), np.asarray(scores_b).reshape(-1)
    if not (labels.shape == sa.shape == sb.shape):
        raise DataError(f"paired_bootstrap: labels/scores sizes differ ({labels.size}, {sa.size}, {sb.size})")
    if groups is None:
        cluster = np.arange(labels.size)
    else:
        cluster = np.asarray(groups).reshape(-1)
        if cluster.shape != labels.shape:
            raise DataError(f"paired_bootstrap: {cluster.size} groups for {labels.size} labels")
    order = np.argsort(cluster, kind="stable")  # rows of one cluster contiguous
    _, starts, sizes = np.unique(cluster[order], return_index=True, return_counts=True)
    n_units = starts.size
    observed = metric(labels, sa, cluster) - metric(labels, sb, cluster)
    deltas = np.empty(n_boot, dtype=np.float64)
    for i in range(n_boot):  # n_boot metric calls; each call is vectorised over rows
        pick = rng.integers(0, n_units, n_units)  # (G,) clusters drawn with replacement
        size = sizes[pick]
        out_start = np.cumsum(size) - size
        rows = order[np.arange(size.sum()) - np.repeat(out_start - starts[pick], size)]
        new_group = np.repeat(np.arange(n_units), size)
        deltas[i] = metric(labels[rows], sa[rows], new_group) - metric(labels[rows], sb[rows], new_group)
    lo, hi = np.quantile(deltas, [alpha / 2, 1 - alpha / 2])
    p = _bootstrap_p(deltas)
    return TestResult("paired_bootstrap", float(observed), p, n_units, float(lo), float(hi))


def paired_bootstrap_mean(
    values_a: np.ndarray,
    values_b: np.ndarray,
    *,
    rng: np.random.Generator,
    n_boot: int = 10000,
    alpha: float = 0.05,
    chunk: int = 256,
) -> TestResult:
    """Paired bootstrap of mean(a) - mean(b) for per-unit values (e.g. per-group HR@10 or RR).

    Args:
        values_a: (G,) model a's value per unit.
        values_b: (G,) model b's value per unit, same units.
        rng: the random generator.
        n_boot: number of resamples.
        alpha: interval level as in :func:`paired_bootstrap`.
        chunk: resamples drawn per vectorised step (bounds memory to chunk x G indices).

    Returns:
        A :class:`TestResult`.
    """
    d = _paired(values_a, values_b, 1)
    deltas = np.empty(n_boot, dtype=np.float64)
    for start in range(0, n_boot, chunk):
        m = min(chunk, n_boot - start)
        deltas[start : start + m] = d[rng.integers(0, d.size, (m, d.size))].mean(axis=1)  # (m,)
    lo, hi = np.quantile(deltas, [alpha / 2, 1 - alpha / 2])
    return TestResult("paired_bootstrap", float(d.mean()), _bootstrap_p(deltas), d.size, float(lo), float(hi))


def sign_flip_test(
    a: np.ndarray,
    b: np.ndarray,
    *,
    rng: np.random.Generator | None = None,
    n_resamples: int = 100000,
    exact_max: int = 16,
) -> TestResult:
    """Paired sign-flip permutation test of mean(a - b) = 0 over seeds.

    Args:
        a: (S,) metric of model a per seed.
        b: (S,) metric of model b per seed (paired by seed).
        rng: generator for the Monte Carlo version (only used when S > exact_max).
        n_resamples: random sign patterns when not exact.
        exact_max: enumerate all 2^S patterns up to this many seeds.

    Returns:
        A :class:`TestResult`; p = share of sign patterns whose |mean| >= the observed |mean|.
    """
    d = _paired(a, b, 1)
    obs = abs(d.mean())
    tol = 1e-12 * max(1.0, float(np.abs(d).max()))  # float noise must not drop the identity pattern
    if d.size <= exact_max:
        codes = np.arange(2**d.size)[:, None]  # (2^S, 1)
        signs = 1.0 - 2.0 * ((codes >> np.arange(d.size)) & 1)  # (2^S, S)
        p = float(np.mean(np.abs(signs @ d / d.size) >= obs - tol))
    else:
        if rng is None:
            raise DataError(f"sign_flip_test: {d.size} seeds > exact_max={exact_max} needs an rng")
        signs = rng.choice(np.array([-1.0, 1.0]), size=(n_resamples, d.size))
        hits = np.count_nonzero(np.abs(signs @ d / d.size) >= obs - tol)
        p = (hits + 1) / (n_resamples + 1)
    return TestResult("sign_flip", float(d.mean()), min(1.0, p), d.size)


def _betacf(a: float, b: float, x: float, max_iter: int = 300, eps: float = 3e-16) -> float:
    # continued fraction of the incomplete beta function, modified Lentz (Numerical Recipes 6.4)
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, max_iter + 1):
        m2 = 2 * m
        even = m * (b - m) * x / ((qam + m2) * (a + m2))
        odd = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        for aa in (even, odd):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + aa / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < eps:
            break
    return h


def betainc_regularized(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta function I_x(a, b) for a, b > 0 and x in [0, 1]."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def t_sf_two_sided(t: float, df: float) -> float:
    """P(|T| >= |t|) for Student's t with ``df`` degrees of freedom."""
    return betainc_regularized(df / 2.0, 0.5, df / (df + t * t))


def paired_t_test(a: np.ndarray, b: np.ndarray) -> TestResult:
    """Paired Student t-test of mean(a - b) = 0 (e.g. per-seed AUCs of two models).

    Args:
        a: (S,) metric of model a per seed.
        b: (S,) metric of model b per seed.

    Returns:
        A :class:`TestResult` (p = 1 when all differences are 0, p = 0 when they are equal and non-zero).
    """
    d = _paired(a, b, 2)
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    if sd == 0.0:
        return TestResult("paired_t", mean, 1.0 if mean == 0.0 else 0.0, d.size)
    t = mean / (sd / math.sqrt(d.size))
    return TestResult("paired_t", mean, t_sf_two_sided(t, d.size - 1.0), d.size)
