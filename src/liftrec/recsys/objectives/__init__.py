"""Training objectives: label masking for the mask-behaviour pretraining, and losses."""

from liftrec.recsys.objectives.losses import (
    bce_with_logits,
    bpr_loss,
    masked_bce_with_logits,
    sampled_softmax_loss,
)
from liftrec.recsys.objectives.masking import MaskedLabels, mask_labels

__all__ = [
    "MaskedLabels",
    "bce_with_logits",
    "bpr_loss",
    "mask_labels",
    "masked_bce_with_logits",
    "sampled_softmax_loss",
]
