"""DIN: Deep Interest Network, and the target-attention unit other history models reuse.

Paper: Zhou, Zhu, Song, Fan, Zhu, Ma, Yan, Jin, Li, Gai, "Deep Interest Network for Click-Through
Rate Prediction", KDD 2018.
Reference implementation: github zhougr1993/DeepInterestNetwork (``din/model.py``, ``attention``);
read, not copied.

Each history row h_i (and the target t) is embedded as the concatenation of its M field embeddings
and an embedding of its label (:class:`RowEmbedding`; the target gets a third "unknown" label, so h_i
and t have the same size D = (M+1) w). The local activation unit scores each behaviour against the
target, w_i = MLP([h_i, t, h_i - t, h_i * t]) (:class:`TargetAttention`), and the user interest is
v = sum_i w_i h_i over valid rows. logit = MLP([t, v]) (PReLU-activated attention unit, Dice MLP as in
the paper).

Deviations / choices:

* The weights are NOT softmax-normalised (the paper, below its eq. 3: "normalization with softmax
  ... is abandoned", to keep the intensity of interests), whereas the reference code does normalise;
  ``attention_norm="softmax"`` gives the reference code's behaviour (without its 1/sqrt(D) scale).
* The user profile is not a separate input: the user field is one of the target row's M fields.
* History rows carry their own label embedding (our histories hold clicks and non-clicks; the
  paper's hold clicks only). Pointwise BCE on our candidate rows; widths 16 / 200-80 / dropout 0.2.
* The paper's mini-batch-aware L2 regulariser is not used (the training loop's weight decay applies).

Reused from here by SIM / UBR4CTR / DIEN: :class:`RowEmbedding`, :class:`TargetAttention`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from liftrec.recsys.config import check
from liftrec.recsys.models.deepfm import Activation, FieldEmbedding, PReLU, mlp

LABEL_UNKNOWN = 2  # label index of a row whose label is not known (the target)


class RowEmbedding(nn.Module):
    """A row's field embeddings concatenated with its label embedding.

    Args:
        cardinalities: per field, number of codes including 0.
        dim: embedding size of each field and of the label.
    """

    def __init__(self, cardinalities: Sequence[int], dim: int) -> None:
        super().__init__()
        self.fields = FieldEmbedding(cardinalities, dim)
        self.labels = nn.Embedding(3, dim)  # 0, 1, LABEL_UNKNOWN
        nn.init.normal_(self.labels.weight, std=0.05)
        self.out_dim = (len(cardinalities) + 1) * dim

    def forward(self, codes: Tensor, labels: Tensor | None = None) -> Tensor:
        """Embed rows.

        Args:
            codes: (..., M) int64 field codes.
            labels: (...) int64 labels in {0, 1, 2}; None = all ``LABEL_UNKNOWN`` (target rows).

        Returns:
            (..., (M+1) dim) row embeddings.
        """
        if labels is None:
            labels = torch.full(codes.shape[:-1], LABEL_UNKNOWN, dtype=torch.int64, device=codes.device)
        return torch.cat([self.fields(codes).flatten(-2), self.labels(labels.long())], dim=-1)


class TargetAttention(nn.Module):
    """DIN's local activation unit: w_i = MLP([h_i, q, h_i - q, h_i * q]), masked.

    Args:
        key_dim: D, the size of each key (behaviour) vector.
        query_dim: size of the query (target) vector; when it differs from ``key_dim`` the query is
            first mapped to D by Linear + PReLU (as DIEN's reference attention does).
        hidden: hidden widths of the activation unit (PReLU).
        normalize: "none" (the DIN paper: raw weights) or "softmax" over the valid keys (DIN's and
            DIEN's reference code).
    """

    def __init__(
        self,
        key_dim: int,
        query_dim: int | None = None,
        hidden: Sequence[int] = (80, 40),
        normalize: Literal["none", "softmax"] = "none",
    ) -> None:
        super().__init__()
        if normalize not in ("none", "softmax"):
            raise ValueError(f"normalize must be 'none' or 'softmax', got {normalize!r}")
        self.normalize = normalize
        self.query_proj: nn.Module = nn.Identity()
        if query_dim is not None and query_dim != key_dim:
            self.query_proj = nn.Sequential(nn.Linear(query_dim, key_dim), PReLU(key_dim))
        self.unit = mlp(4 * key_dim, hidden, dropout=0.0, activation="prelu")

    def weights(self, query: Tensor, keys: Tensor, valid: Tensor) -> Tensor:
        """Attention weights of each key.

        Args:
            query: (B, Dq) target vectors.
            keys: (B, L, D) behaviour vectors.
            valid: (B, L) bool, False at padding.

        Returns:
            (B, L) weights, exactly 0 at padding; with "softmax" they sum to 1 over the valid keys
            (all 0 for a row without any).
        """
        q = self.query_proj(query).unsqueeze(1).expand_as(keys)  # (B, L, D)
        scores = self.unit(torch.cat([keys, q, keys - q, keys * q], dim=-1)).squeeze(-1)  # (B, L)
        mask = valid.to(scores.dtype)
        if self.normalize == "softmax":
            # a finite fill (not -inf) keeps an all-padding row finite; the product zeroes it
            scores = torch.softmax(scores.masked_fill(~valid, torch.finfo(scores.dtype).min), dim=-1)
        return scores * mask  # (B, L)

    def forward(self, query: Tensor, keys: Tensor, valid: Tensor) -> tuple[Tensor, Tensor]:
        """Attention-pool the keys: returns ((B, D) sum_i w_i h_i, (B, L) weights w)."""
        w = self.weights(query, keys, valid)  # (B, L)
        return torch.einsum("bl,bld->bd", w, keys), w


@dataclass(frozen=True)
class DINConfig:
    """Hyper-parameters of DIN (``din``).

    Attributes:
        field_dim: embedding size of each field (and of the label).
        mlp: hidden widths of the prediction MLP.
        dropout: dropout after each prediction-MLP hidden layer.
        activation: activation of the prediction MLP ("dice" as in the paper, or "prelu", "relu").
        attention_mlp: hidden widths of the local activation unit.
        attention_norm: "none" (the paper) or "softmax" (the reference code).
    """

    field_dim: int = 16
    mlp: tuple[int, ...] = (200, 80)
    dropout: float = 0.2
    activation: Activation = "dice"
    attention_mlp: tuple[int, ...] = (80, 40)
    attention_norm: Literal["none", "softmax"] = "none"

    def __post_init__(self) -> None:
        check(self.field_dim >= 1, "field_dim", f"must be >= 1, got {self.field_dim}")
        check(all(h >= 1 for h in self.mlp), "mlp", f"widths must be >= 1, got {list(self.mlp)}")
        check(
            all(h >= 1 for h in self.attention_mlp),
            "attention_mlp",
            f"widths must be >= 1, got {list(self.attention_mlp)}",
        )
        check(0.0 <= self.dropout < 1.0, "dropout", f"must be in [0, 1), got {self.dropout}")


class DINModel(nn.Module):
    """DIN over the target row and the user's history.

    Args:
        cfg: hyper-parameters.
        cardinalities: per field, number of codes including 0.
    """

    inputs = frozenset({"x", "hist"})

    def __init__(self, cfg: DINConfig, cardinalities: Sequence[int]) -> None:
        super().__init__()
        self.cfg = cfg
        self.rows = RowEmbedding(cardinalities, cfg.field_dim)
        D = self.rows.out_dim
        self.attention = TargetAttention(D, hidden=cfg.attention_mlp, normalize=cfg.attention_norm)
        self.mlp = mlp(2 * D, cfg.mlp, cfg.dropout, activation=cfg.activation)

    def _embed(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        t = self.rows(batch["x"])  # (B, D)
        h = self.rows(batch["hist"], batch["hist_label"])  # (B, L, D)
        return t, h

    def attention_weights(self, batch: dict[str, Tensor]) -> Tensor:
        """(B, L) the activation unit's weight of each history row (0 at padding)."""
        t, h = self._embed(batch)
        return self.attention.weights(t, h, batch["hist_valid"])

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        """(B,) logits from "x" (B, M), "hist" (B, L, M), "hist_label" (B, L), "hist_valid" (B, L)."""
        t, h = self._embed(batch)
        interest, _ = self.attention(t, h, batch["hist_valid"])  # (B, D)
        return self.mlp(torch.cat([t, interest], dim=-1)).squeeze(-1)  # (B,)

    def loss(self, batch: dict[str, Tensor]) -> Tensor:
        """Binary cross-entropy with logits on ``batch["label"]`` (mean over the batch)."""
        return F.binary_cross_entropy_with_logits(self.forward(batch), batch["label"].to(torch.float32))

    @torch.no_grad()
    def predict(self, batch: dict[str, Tensor]) -> Tensor:
        """(B,) click probabilities sigmoid(logit)."""
        return torch.sigmoid(self.forward(batch))


def _build(cfg: DINConfig, *, cardinalities: Sequence[int], **_: Any) -> nn.Module:
    return DINModel(cfg, cardinalities)


from liftrec.recsys.models.registration import register  # noqa: E402  (registers on import)

register("din", DINModel, DINConfig, _build)
