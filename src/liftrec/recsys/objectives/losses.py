"""Losses shared by the models: all take logits (never probabilities) for numerical stability."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def bce_with_logits(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean binary cross-entropy of ``sigmoid(logits)`` against 0/1 ``targets`` (any equal shapes)."""
    return F.binary_cross_entropy_with_logits(logits, targets.to(logits.dtype))


def masked_bce_with_logits(logits: Tensor, targets: Tensor, mask: Tensor) -> Tensor:
    """Mean binary cross-entropy over the positions where ``mask`` is True.

    Args:
        logits: (...) logits.
        targets: (...) 0/1 targets, same shape.
        mask: (...) bool, same shape.

    Returns:
        Scalar loss; 0 (still attached to the graph) when nothing is masked.
    """
    losses = F.binary_cross_entropy_with_logits(logits, targets.to(logits.dtype), reduction="none")
    w = mask.to(logits.dtype)
    return (losses * w).sum() / w.sum().clamp(min=1.0)


def bpr_loss(pos_scores: Tensor, neg_scores: Tensor) -> Tensor:
    """Bayesian personalised ranking: mean of -log sigmoid(pos - neg).

    Args:
        pos_scores: (B,) scores of the positives.
        neg_scores: (B,) or (B, N) scores of sampled negatives.

    Returns:
        Scalar loss.
    """
    if neg_scores.dim() == pos_scores.dim() + 1:
        pos_scores = pos_scores.unsqueeze(-1)  # (B, 1)
    return -F.logsigmoid(pos_scores - neg_scores).mean()


def sampled_softmax_loss(scores: Tensor, target: Tensor | None = None) -> Tensor:
    """Cross-entropy over candidate scores (B, C); the positive is column ``target`` (default 0)."""
    if target is None:
        target = torch.zeros(scores.shape[0], dtype=torch.long, device=scores.device)
    return F.cross_entropy(scores, target)
