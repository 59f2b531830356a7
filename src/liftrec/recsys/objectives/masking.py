"""Label masking for LIFT's mask-behaviour pretraining (paper §3.3).

A fraction r of each sequence's valid labels is replaced by the [MASK] token; the model predicts
them. The count per sequence is exact (``round(r * n_valid)``, at least 1), not Bernoulli(r) per
position as in BERT4Rec, so short sequences are not left without a target. Positions are drawn
uniformly without replacement from the caller's ``torch.Generator``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from liftrec.recsys.models.encoder import LABEL_MASK


@dataclass(frozen=True)
class MaskedLabels:
    """The result of masking a batch of label sequences.

    Attributes:
        inputs: (B, L) int64 label tokens with LABEL_MASK at masked positions (pads kept).
        targets: (B, L) float32 original labels (0 at pads; only meaningful where ``mask``).
        mask: (B, L) bool, True at masked positions.
    """

    inputs: Tensor
    targets: Tensor
    mask: Tensor


def mask_counts(n_valid: Tensor, ratio: float) -> Tensor:
    """Number of positions to mask per sequence: round(ratio * n_valid), at least 1 when n_valid > 0.

    Rounds half to even, like Python's ``round``.

    Args:
        n_valid: (B,) int64 valid positions per sequence.
        ratio: mask ratio in (0, 1].

    Returns:
        (B,) int64 counts, 0 where ``n_valid`` is 0.
    """
    k = torch.round(n_valid.to(torch.float64) * ratio).to(torch.int64)
    return torch.minimum(k.clamp(min=1), n_valid)


def mask_labels(labels: Tensor, valid: Tensor, ratio: float, generator: torch.Generator) -> MaskedLabels:
    """Mask round(ratio * n_valid) (at least 1) valid positions per sequence, uniformly at random.

    Args:
        labels: (B, L) int64 label tokens (0/1 at valid positions).
        valid: (B, L) bool, True at real (non-pad) positions.
        ratio: mask ratio in (0, 1].
        generator: source of randomness; the draw happens on its device and is moved to ``labels``'
            device, so a CPU generator gives the same masks on every device.

    Returns:
        The masked inputs, float targets and the mask.

    Raises:
        ValueError: when ``ratio`` is outside (0, 1] or shapes differ.
    """
    if not 0.0 < ratio <= 1.0:
        raise ValueError(f"mask ratio must be in (0, 1], got {ratio}")
    if labels.shape != valid.shape or labels.dim() != 2:
        shapes = f"labels {tuple(labels.shape)}, valid {tuple(valid.shape)}"
        raise ValueError(f"{shapes}: must be the same (B, L)")
    B, L = labels.shape
    keys = torch.rand(B, L, generator=generator, device=generator.device).to(labels.device)  # (B, L)
    keys = keys.masked_fill(~valid, 2.0)  # pads sort last
    order = keys.argsort(dim=1)  # (B, L)
    rank = torch.empty_like(order).scatter_(1, order, torch.arange(L, device=labels.device).expand(B, L))
    k = mask_counts(valid.sum(1), ratio)  # (B,)
    mask = rank < k[:, None]  # (B, L) the k smallest keys, all valid
    inputs = labels.masked_fill(mask, LABEL_MASK)
    targets = (labels * valid).to(torch.float32)
    return MaskedLabels(inputs=inputs, targets=targets, mask=mask)
