"""Mask-behaviour pretraining of LIFT's encoder (Zheng et al., KDD 2025, §3.3).

Retrieval-set sequences of length L have a fraction r of their labels replaced by [MASK]; an MLP on
the encoder state o_i predicts each masked label y_i; the loss is BCE over masked positions only.
With the causal decoder, o_i sees x_i, its own [MASK] token and the (partly masked) history, so the
task is a CTR prediction from context. No LIFT code is public; choices where the paper is silent:
exactly round(r * n_valid) labels (at least 1) are masked per sequence (see ``objectives.masking``);
the head is Linear(v, head_hidden) - ReLU - Dropout - Linear(head_hidden, 1).

Masking randomness comes from a CPU ``torch.Generator`` held by the model and saved in its state
dict (``_extra_state``), so a resumed training run continues the same mask sequence. ``predict``
masks with a generator freshly seeded with ``EVAL_MASK_SEED`` on each call: evaluation masks depend
only on the batch, so masked-label AUCs compare across models and seeds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from liftrec.recsys.config import check
from liftrec.recsys.models.encoder import LABEL_PAD, EncoderConfig, SequenceEncoder
from liftrec.recsys.objectives.losses import masked_bce_with_logits
from liftrec.recsys.objectives.masking import MaskedLabels, mask_labels
from liftrec.recsys.training.device import move_batch

EVAL_MASK_SEED = 20250801  # one fixed seed: masked-label scores are comparable across runs and seeds


@dataclass(frozen=True)
class PretrainConfig:
    """Mask-behaviour pretraining settings (``pretrain``).

    Attributes:
        mask_ratio: fraction r of valid labels masked per sequence, in (0, 1).
        head_hidden: hidden width of the prediction MLP.
        encoder: the encoder's hyper-parameters.
        next_field: index of a field whose NEXT value each position's state also predicts (softmax
            over the field's codes, the auxiliary "state" objective; None: the paper's loss only).
        next_weight: weight of that auxiliary cross-entropy in the loss.
    """

    mask_ratio: float = 0.6
    head_hidden: int = 64
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    next_field: int | None = None
    next_weight: float = 1.0

    def __post_init__(self) -> None:
        check(0.0 < self.mask_ratio < 1.0, "mask_ratio", f"must be in (0, 1), got {self.mask_ratio}")
        check(self.head_hidden >= 1, "head_hidden", f"must be >= 1, got {self.head_hidden}")
        check(self.next_weight >= 0, "next_weight", f"must be >= 0, got {self.next_weight}")


class MaskBehaviourModel(nn.Module):
    """Encoder + MLP head predicting masked labels.

    Args:
        encoder: the sequence encoder to pretrain (its state is ``model.encoder.state_dict()``).
        cfg: pretraining settings.
        seed: seed of the training masks (evaluation masks always use ``EVAL_MASK_SEED``).
    """

    def __init__(self, encoder: SequenceEncoder, cfg: PretrainConfig, *, seed: int = 0) -> None:
        super().__init__()
        self.encoder, self.cfg, self.seed = encoder, cfg, int(seed)
        self.head = nn.Sequential(
            nn.Linear(encoder.out_dim, cfg.head_hidden),
            nn.ReLU(),
            nn.Dropout(encoder.cfg.dropout),
            nn.Linear(cfg.head_hidden, 1),
        )
        if cfg.next_field is not None:
            cards = [e.num_embeddings for e in encoder.field_emb]
            if not 0 <= cfg.next_field < len(cards):
                raise ValueError(f"next_field {cfg.next_field} outside the {len(cards)} fields")
            self.next_head = nn.Linear(encoder.out_dim, cards[cfg.next_field])
        self._gen = torch.Generator().manual_seed(self.seed)

    def get_extra_state(self) -> Tensor:
        return self._gen.get_state()

    def set_extra_state(self, state: Tensor) -> None:
        self._gen.set_state(state.to("cpu", torch.uint8))

    def _masked_logits(
        self, batch: dict[str, Tensor], gen: torch.Generator
    ) -> tuple[Tensor, MaskedLabels, Tensor]:
        fields, labels = batch["fields"], batch["labels"]  # (B, L, M), (B, L)
        m = mask_labels(labels, labels != LABEL_PAD, self.cfg.mask_ratio, gen)
        hidden = self.encoder(fields, m.inputs)  # (B, L, v)
        logits = self.head(hidden[m.mask]).squeeze(-1)  # (n_masked,)
        return logits, m, hidden

    def _next_loss(self, hidden: Tensor, batch: dict[str, Tensor]) -> Tensor:
        # Every state o_i (masked or not) predicts field f of interaction i+1: a state summary that
        # the paper's loss never asks of an unmasked last position, which is what E(window) reads.
        # The last state o_T predicts the interaction after the window ("next_after", (B,), -1 when
        # there is none), so the state the datastore stores is itself supervised.
        f = self.cfg.next_field
        valid = batch["labels"] != LABEL_PAD  # (B, L)
        pairs = valid[:, :-1] & valid[:, 1:]  # (B, L-1) both i and i+1 are interactions
        states, targets = [hidden[:, :-1][pairs]], [batch["fields"][:, 1:, f][pairs]]  # (n, v), (n,)
        after = batch.get("next_after")
        if after is not None:
            last = (after >= 0) & valid[:, -1]  # windows are left-padded: o_T is the last position
            states.append(hidden[:, -1][last])
            targets.append(after[last])
        state, target = torch.cat(states), torch.cat(targets)
        if len(target) == 0:
            return hidden.sum() * 0.0
        return F.cross_entropy(self.next_head(state), target)

    def loss(self, batch: dict[str, Tensor]) -> Tensor:
        """BCE over the masked positions of a batch.

        Args:
            batch: "fields" (B, L, M) int64 codes and "labels" (B, L) int64 raw tokens (0/1/PAD);
                optionally "next_after" (B,) the next field's code after each window (-1: none).

        Returns:
            Scalar loss.
        """
        logits, m, hidden = self._masked_logits(batch, self._gen)
        # masked_bce over the all-True mask of masked positions: a defined 0 when nothing is masked
        loss = masked_bce_with_logits(logits, m.targets[m.mask], torch.ones_like(logits, dtype=torch.bool))
        if self.cfg.next_field is not None and self.cfg.next_weight > 0:
            loss = loss + self.cfg.next_weight * self._next_loss(hidden, batch)
        return loss

    @torch.no_grad()
    def predict(
        self, batch: dict[str, Tensor], generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """Probabilities and targets at masked positions, with deterministic masks.

        Args:
            batch: as for ``loss``.
            generator: mask randomness; default one freshly seeded with ``EVAL_MASK_SEED``.

        Returns:
            (n_masked,) probabilities and (n_masked,) float 0/1 targets.
        """
        gen = generator if generator is not None else torch.Generator().manual_seed(EVAL_MASK_SEED)
        logits, m, _ = self._masked_logits(batch, gen)
        return torch.sigmoid(logits), m.targets[m.mask]


def predict_masked(
    model: MaskBehaviourModel, batches: Iterable[dict[str, Tensor]]
) -> tuple[np.ndarray, np.ndarray]:
    """Masked-label probabilities and targets over held-out batches (e.g. for a masked-label AUC).

    Runs under ``model.eval()`` and no_grad; batches are moved to the model's device here.

    Args:
        model: a mask-behaviour model.
        batches: CPU batches with "fields" and "labels".

    Returns:
        float32 probabilities and targets, concatenated over batches.
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    probs, targets = [], []
    try:
        for batch in batches:
            p, t = model.predict(move_batch(batch, device))
            probs.append(p.float().cpu().numpy())
            targets.append(t.float().cpu().numpy())
    finally:
        model.train(was_training)
    if not probs:
        return np.zeros(0, np.float32), np.zeros(0, np.float32)
    return np.concatenate(probs), np.concatenate(targets)
