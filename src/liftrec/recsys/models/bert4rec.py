"""BERT4Rec as a pointwise CTR model (the CTR baseline of RIM and LIFT).

Paper: Sun, Liu, Wu, Pei, Lin, Ou, Jiang, "BERT4Rec: Sequential Recommendation with Bidirectional
Encoder Representations from Transformer", CIKM 2019.
Reference implementation: github FeiSun/BERT4Rec (``modeling.py``, TensorFlow); read, not copied.

The original BERT4Rec is an item-ID language model: a bidirectional Transformer over the item
sequence, trained with the Cloze task (masked items predicted by a softmax over the catalogue).
CTR papers that list it as a baseline (RIM, KDD 2021; DERT; LIFT, KDD 2025) feed their pointwise
CTR setting instead, which is what this module does:

* sequence = [h_1, ..., h_L, target]: token = Linear(concat of the M field embeddings) + an
  embedding of the row's label (0 / 1 for history rows, [MASK] for the target, whose label is
  what we predict) + a learned position embedding, then LayerNorm and dropout (BERT's embedding layer);
* a bidirectional (unmasked) post-LN Transformer encoder with GELU, padded history rows excluded from
  the attention by a key-padding mask;
* the target position's output -> MLP -> logit; BCE on the target's label.

So the Cloze idea survives as "predict the [MASK]ed label of the last token", with full bidirectional
attention among the history rows. Deviations: no item-softmax Cloze pretraining (the CTR papers do
not describe one); the history is left-padded and aligned so the target always takes the last
position; widths: d = 64, 2 layers, 2 heads, attention dropout 0.1 (the paper's small setting),
prediction MLP 200-80 with dropout 0.2.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from liftrec.recsys.config import check
from liftrec.recsys.models.deepfm import FieldEmbedding, mlp

LABEL_MASK = 2  # label index of the [MASK] token (the target)


@dataclass(frozen=True)
class Bert4RecConfig:
    """Hyper-parameters of the BERT4Rec CTR baseline (``bert4rec``).

    Attributes:
        field_dim: embedding size of each field.
        dim: d, the Transformer width.
        layers: number of Transformer layers.
        heads: attention heads (must divide ``dim``).
        attn_dropout: dropout inside the Transformer and after the embedding layer.
        mlp: hidden widths of the prediction MLP.
        dropout: dropout after each prediction-MLP hidden layer.
    """

    field_dim: int = 16
    dim: int = 64
    layers: int = 2
    heads: int = 2
    attn_dropout: float = 0.1
    mlp: tuple[int, ...] = (200, 80)
    dropout: float = 0.2

    def __post_init__(self) -> None:
        check(self.field_dim >= 1, "field_dim", f"must be >= 1, got {self.field_dim}")
        check(self.dim >= 1, "dim", f"must be >= 1, got {self.dim}")
        check(self.layers >= 1, "layers", f"must be >= 1, got {self.layers}")
        check(
            self.heads >= 1 and self.dim % self.heads == 0,
            "heads",
            f"must divide dim={self.dim}, got {self.heads}",
        )
        check(0.0 <= self.attn_dropout < 1.0, "attn_dropout", f"must be in [0, 1), got {self.attn_dropout}")
        check(all(h >= 1 for h in self.mlp), "mlp", f"widths must be >= 1, got {list(self.mlp)}")
        check(0.0 <= self.dropout < 1.0, "dropout", f"must be in [0, 1), got {self.dropout}")


class Bert4RecModel(nn.Module):
    """Bidirectional Transformer over [history..., target]; the target's output scores its click.

    Args:
        cfg: hyper-parameters.
        cardinalities: per field, number of codes including 0.
        seq_len: L, the longest history (positions L + 1 with the target).
    """

    inputs = frozenset({"x", "hist"})

    def __init__(self, cfg: Bert4RecConfig, cardinalities: Sequence[int], seq_len: int) -> None:
        super().__init__()
        if seq_len < 1:
            raise ValueError(f"seq_len must be >= 1, got {seq_len}")
        self.cfg = cfg
        self.seq_len = seq_len
        d = cfg.dim
        self.fields = FieldEmbedding(cardinalities, cfg.field_dim)
        self.proj = nn.Linear(len(cardinalities) * cfg.field_dim, d)
        self.labels = nn.Embedding(3, d)  # 0, 1, [MASK]
        self.positions = nn.Embedding(seq_len + 1, d)
        for emb in (self.labels, self.positions):
            nn.init.normal_(emb.weight, std=0.02)  # BERT's initializer range
        self.norm = nn.LayerNorm(d)
        self.drop = nn.Dropout(cfg.attn_dropout)
        layer = nn.TransformerEncoderLayer(
            d, cfg.heads, 4 * d, cfg.attn_dropout, activation="gelu", batch_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        self.mlp = mlp(d, cfg.mlp, cfg.dropout)

    def encode(self, batch: dict[str, Tensor]) -> Tensor:
        """(B, L+1, d) Transformer outputs of [history..., target] (the target last)."""
        hist, x = batch["hist"], batch["x"]  # (B, L, M), (B, M)
        B, L, _ = hist.shape
        if L > self.seq_len:
            raise ValueError(f"history length {L} exceeds the model's seq_len {self.seq_len}")
        rows = torch.cat([hist, x.unsqueeze(1)], dim=1)  # (B, L+1, M)
        mask_label = torch.full((B, 1), LABEL_MASK, dtype=torch.int64, device=x.device)
        labels = torch.cat([batch["hist_label"].long(), mask_label], dim=1)  # (B, L+1)
        pos = torch.arange(self.seq_len - L, self.seq_len + 1, device=x.device)  # (L+1,), target last
        tok = self.proj(self.fields(rows).flatten(-2))  # (B, L+1, d)
        tok = self.drop(self.norm(tok + self.labels(labels) + self.positions(pos)))  # (B, L+1, d)
        target_col = torch.zeros(B, 1, dtype=torch.bool, device=x.device)  # the target is never ignored
        ignore = torch.cat([~batch["hist_valid"], target_col], dim=1)  # (B, L+1), True = padding
        return self.encoder(tok, src_key_padding_mask=ignore)  # (B, L+1, d)

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        """(B,) logits from "x" (B, M), "hist" (B, L, M), "hist_label" (B, L), "hist_valid" (B, L)."""
        return self.mlp(self.encode(batch)[:, -1]).squeeze(-1)  # (B,)

    def loss(self, batch: dict[str, Tensor]) -> Tensor:
        """Binary cross-entropy with logits on ``batch["label"]`` (mean over the batch)."""
        return F.binary_cross_entropy_with_logits(self.forward(batch), batch["label"].to(torch.float32))

    @torch.no_grad()
    def predict(self, batch: dict[str, Tensor]) -> Tensor:
        """(B,) click probabilities sigmoid(logit)."""
        return torch.sigmoid(self.forward(batch))


def _build(cfg: Bert4RecConfig, *, cardinalities: Sequence[int], seq_len: int, **_: Any) -> nn.Module:
    return Bert4RecModel(cfg, cardinalities, seq_len)


from liftrec.recsys.models.registration import register  # noqa: E402  (registers on import)

register("bert4rec", Bert4RecModel, Bert4RecConfig, _build)
