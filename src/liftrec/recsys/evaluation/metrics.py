"""Evaluation metrics as pure functions on numpy arrays (DESIGN.md §8, PROTOCOL.md "Top-N metrics").

CTR: :func:`auc` (Mann-Whitney form, ties count 1/2, O(n log n)) and :func:`logloss`.
Top-N: :func:`topn_ranks` ranks each candidate group's single positive against its negatives with
*pessimistic* tie-breaking (the positive ranks below every candidate with an equal score, so a
constant scorer gets rank = group size and HR@k = 0 for k < group size); :func:`topn_per_group`
turns ranks into per-group HR@k / NDCG@k / RR and :func:`topn_metrics` averages them over groups.
Per-group values are what :mod:`liftrec.recsys.evaluation.significance` resamples.
"""

from __future__ import annotations

import numpy as np

from liftrec.recsys.errors import DataError

DEFAULT_KS = (1, 5, 10)


def _check_pair(labels: np.ndarray, scores: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(labels).reshape(-1)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if labels.shape != scores.shape:
        raise DataError(f"{what}: labels has {labels.size} values but scores has {scores.size}")
    if labels.size and not np.isin(labels, (0, 1)).all():
        raise DataError(f"{what}: labels must be 0/1, got values {np.unique(labels)[:10].tolist()}")
    if not np.isfinite(scores).all():
        raise DataError(f"{what}: {int((~np.isfinite(scores)).sum())} scores are NaN or infinite")
    return labels.astype(bool), scores


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of ``values`` in ascending order, ties sharing their average rank.

    Args:
        values: (n,) numbers.

    Returns:
        (n,) float64 ranks (as ``scipy.stats.rankdata(method="average")``).
    """
    values = np.asarray(values).reshape(-1)
    order = np.argsort(values, kind="stable")
    sorted_v = values[order]
    # tie blocks [start, end) in sorted order; their average 1-based rank is (start + 1 + end) / 2
    new_block = np.r_[True, sorted_v[1:] != sorted_v[:-1]]
    starts = np.flatnonzero(new_block)
    ends = np.r_[starts[1:], values.size]
    block_rank = (starts + 1 + ends) / 2.0
    ranks = np.empty(values.size, dtype=np.float64)
    ranks[order] = np.repeat(block_rank, ends - starts)
    return ranks


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve, AUC = U / (n_pos n_neg), ties between a positive and a negative counting 1/2.

    Args:
        labels: (n,) 0/1 labels.
        scores: (n,) scores (any monotone transform gives the same AUC).

    Returns:
        The AUC in [0, 1].

    Raises:
        DataError: when only one class is present, or on a shape mismatch / non-finite score.
    """
    y, s = _check_pair(labels, scores, "auc")
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise DataError(f"auc: undefined with {n_pos} positives and {n_neg} negatives (need both classes)")
    rank_sum = average_ranks(s)[y].sum()
    u = rank_sum - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * float(n_neg)))


def logloss(labels: np.ndarray, probs: np.ndarray, eps: float = 1e-7) -> float:
    """Mean binary cross-entropy, probabilities clipped to [eps, 1 - eps] so a confident miss stays finite.

    Args:
        labels: (n,) 0/1 labels.
        probs: (n,) predicted probabilities of label 1.
        eps: clipping margin.

    Returns:
        The mean log loss (natural log).

    Raises:
        DataError: on an empty input, a shape mismatch or non-finite probabilities.
    """
    y, p = _check_pair(labels, probs, "logloss")
    if y.size == 0:
        raise DataError("logloss: no rows")
    p = np.clip(p, eps, 1.0 - eps)
    return float(-np.mean(np.where(y, np.log(p), np.log1p(-p))))


def topn_ranks(
    group_ids: np.ndarray, labels: np.ndarray, scores: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pessimistic rank of each group's positive among the group's candidates.

    rank = 1 + number of negatives of the group scoring >= the positive, so ties go against the model.

    Args:
        group_ids: (n,) candidate-group id of each row (any integers, any order).
        labels: (n,) 0/1 labels; each group must hold exactly one positive.
        scores: (n,) model scores.

    Returns:
        (groups, ranks, sizes): the sorted distinct group ids (G,), the positive's rank (G,) int64 in
        [1, size], and each group's number of candidates (G,).

    Raises:
        DataError: naming the first groups with no or several positives; on shape mismatches.
    """
    y, s = _check_pair(labels, scores, "topn_metrics")
    g = np.asarray(group_ids).reshape(-1)
    if g.shape != y.shape:
        raise DataError(f"topn_metrics: group_ids has {g.size} values but labels has {y.size}")
    if g.size == 0:
        raise DataError("topn_metrics: no rows")
    groups, gidx = np.unique(g, return_inverse=True)  # gidx: (n,) dense group index
    sizes = np.bincount(gidx, minlength=groups.size)
    n_pos = np.bincount(gidx, weights=y, minlength=groups.size).astype(np.int64)
    bad = np.flatnonzero(n_pos != 1)
    if bad.size:
        show = ", ".join(f"{groups[b]} ({n_pos[b]} positives)" for b in bad[:5])
        raise DataError(
            f"topn_metrics: {bad.size} candidate groups do not hold exactly one positive, e.g. group {show}",
            column="group_id",
        )
    pos_score = np.empty(groups.size, dtype=np.float64)
    pos_score[gidx[y]] = s[y]
    beaten = (~y) & (s >= pos_score[gidx])  # negatives at or above their group's positive
    ranks = 1 + np.bincount(gidx, weights=beaten, minlength=groups.size).astype(np.int64)
    return groups, ranks, sizes


def topn_per_group(
    group_ids: np.ndarray, labels: np.ndarray, scores: np.ndarray, ks: tuple[int, ...] = DEFAULT_KS
) -> dict[str, np.ndarray]:
    """Per-group top-N values: HR@k, NDCG@k (k > 1; NDCG@1 equals HR@1) and RR (1 / rank).

    Args:
        group_ids: (n,) candidate-group ids.
        labels: (n,) 0/1 labels, one positive per group.
        scores: (n,) model scores.
        ks: cut-offs.

    Returns:
        ``{"group": (G,), "HR@k": (G,), "NDCG@k": (G,), "MRR": (G,)}``, groups in ascending id order.
    """
    if any(k < 1 for k in ks):
        raise DataError(f"topn_metrics: cut-offs must be >= 1, got {ks}")
    groups, ranks, _ = topn_ranks(group_ids, labels, scores)
    out: dict[str, np.ndarray] = {"group": groups}
    gain = 1.0 / np.log2(ranks + 1.0)  # one relevant item, so IDCG = 1
    for k in ks:
        out[f"HR@{k}"] = (ranks <= k).astype(np.float64)
    for k in ks:
        if k > 1:
            out[f"NDCG@{k}"] = np.where(ranks <= k, gain, 0.0)
    out["MRR"] = 1.0 / ranks
    return out


def topn_metrics(
    group_ids: np.ndarray, labels: np.ndarray, scores: np.ndarray, ks: tuple[int, ...] = DEFAULT_KS
) -> dict[str, float]:
    """HR@k, NDCG@k and MRR averaged over candidate groups, with pessimistic tie-breaking.

    Args:
        group_ids: (n,) candidate-group ids (e.g. the ``group_id`` column).
        labels: (n,) 0/1 labels, exactly one positive per group.
        scores: (n,) model scores.
        ks: cut-offs; the default gives HR@1/5/10 and NDCG@5/10.

    Returns:
        ``{"HR@1": ..., "HR@5": ..., "HR@10": ..., "NDCG@5": ..., "NDCG@10": ..., "MRR": ...}``.

    Raises:
        DataError: naming a group with no or several positives.
    """
    per = topn_per_group(group_ids, labels, scores, ks)
    return {k: float(v.mean()) for k, v in per.items() if k != "group"}
