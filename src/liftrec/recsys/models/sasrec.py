"""SASRec: Self-Attentive Sequential Recommendation, a top-N baseline.

Paper: Kang and McAuley, "Self-Attentive Sequential Recommendation", ICDM 2018. Reference
implementations read: github kang205/SASRec (the authors' TensorFlow code) and
github pmixer/SASRec.pytorch.

Item embedding * sqrt(d) + learned position embedding, dropout, zeroed at pads; then ``blocks`` x
[Q = LN(x); x = Q + MultiHeadAttention(Q, x, x) (causal, pads masked); x = LN(x);
x = x + FFN(x); x *= mask]; final LN. The output at the newest position dot the candidate's item
embedding (shared with the input, as in the paper) is the score.

Deviations / choices:

* Loss: pointwise BCE with logits on our candidate rows (1 positive + sampled negatives per group)
  instead of the paper's per-position BCE with one sampled negative.
* The sequence is the user's history restricted to clicks (``hist_valid & hist_label == 1``),
  compacted to the right (newest at L-1, pads first, as in the reference's left padding), so
  positions count clicks back from the newest. ``seq_len`` (context) sizes the position table; a
  longer history keeps its newest ``seq_len`` clicks.
* Masked attention uses a finite fill and multiplies the weights by the mask (no NaN for a query
  with no visible key). A row without clicks is all pads: its output is the final LN's bias, a learned
  "no history" vector, so its scores stay finite and item-dependent.
* Features: the item id field only; embeddings start at N(0, 0.05^2).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from liftrec.recsys.config import check
from liftrec.recsys.errors import ConfigError
from liftrec.recsys.models.fpmc import EMB_STD, clicked_sequence, field_size


@dataclass(frozen=True)
class SASRecConfig:
    """SASRec hyper-parameters.

    Attributes:
        field_dim: d, item / position embedding and hidden size.
        blocks: self-attention blocks.
        heads: attention heads (must divide field_dim).
        dropout: dropout on embeddings, attention weights and the feed-forward layers.
    """

    field_dim: int = 16
    blocks: int = 2
    heads: int = 1
    dropout: float = 0.2

    def __post_init__(self) -> None:
        check(self.field_dim >= 1, "field_dim", f"must be >= 1, got {self.field_dim}")
        check(self.blocks >= 1, "blocks", f"must be >= 1, got {self.blocks}")
        check(self.heads >= 1 and self.field_dim % self.heads == 0, "heads",
              f"must be >= 1 and divide field_dim {self.field_dim}, got {self.heads}")  # fmt: skip
        check(0.0 <= self.dropout < 1.0, "dropout", f"must be in [0, 1), got {self.dropout}")


class CausalSelfAttention(nn.Module):
    """Multi-head attention of queries Q over keys/values x, causal and masked at pads."""

    def __init__(self, d: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
        self.dropout = nn.Dropout(dropout)

    def forward(self, queries: Tensor, x: Tensor, mask: Tensor) -> Tensor:
        """(B, L, d) attention output; query t sees keys s <= t with mask[s] True."""
        B, L, d = x.shape
        H = self.heads

        def split(t: Tensor) -> Tensor:
            return t.view(B, L, H, d // H).transpose(1, 2)  # (B, H, L, d/H)

        q, k, v = split(self.q(queries)), split(self.k(x)), split(self.v(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(d // H)  # (B, H, L, L)
        causal = torch.ones(L, L, dtype=torch.bool, device=x.device).tril()  # (L, L)
        allowed = (causal & mask[:, None, :]).unsqueeze(1)  # (B, 1, L, L)
        scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
        w = torch.softmax(scores, dim=-1) * allowed.to(scores.dtype)  # (B, H, L, L), 0 at hidden keys
        out = self.dropout(w) @ v  # (B, H, L, d/H)
        return self.o(out.transpose(1, 2).reshape(B, L, d))  # (B, L, d)


class SASRecBlock(nn.Module):
    """One SASRec block (reference layout: LN'd queries, residual, point-wise FFN)."""

    def __init__(self, d: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.attn_norm, self.ffn_norm = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = CausalSelfAttention(d, heads, dropout)
        self.ffn = nn.Sequential(
            nn.Linear(d, d), nn.ReLU(), nn.Dropout(dropout), nn.Linear(d, d), nn.Dropout(dropout)
        )

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        q = self.attn_norm(x)  # (B, L, d)
        x = self.ffn_norm(q + self.attn(q, x, mask))  # (B, L, d)
        x = x + self.ffn(x)
        return x * mask.unsqueeze(-1).to(x.dtype)


class SASRecModel(nn.Module):
    """Causal self-attention over the clicked history; last output dot candidate embedding.

    Args:
        cfg: hyper-parameters.
        n_items: codes of the item field (incl. 0).
        item_field_index: position of the item field in x / hist.
        max_len: size of the position table (the history length L).
    """

    inputs = frozenset({"x", "hist"})
    history_selection = "recent"

    def __init__(self, cfg: SASRecConfig, n_items: int, item_field_index: int, max_len: int) -> None:
        super().__init__()
        self.cfg, self.item_field_index, self.max_len = cfg, item_field_index, max_len
        d = cfg.field_dim
        self.item_emb = nn.Embedding(n_items, d, padding_idx=0)
        self.pos_emb = nn.Embedding(max_len, d)
        for emb in (self.item_emb, self.pos_emb):
            nn.init.normal_(emb.weight, std=EMB_STD)
        with torch.no_grad():
            self.item_emb.weight[0].zero_()
        self.emb_dropout = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(SASRecBlock(d, cfg.heads, cfg.dropout) for _ in range(cfg.blocks))
        self.final_norm = nn.LayerNorm(d)

    def encode(self, items: Tensor, mask: Tensor) -> Tensor:
        """Per-position outputs F of right-aligned clicked items.

        Args:
            items: (B, L) item codes, L <= max_len, newest at L-1.
            mask: (B, L) bool, True at clicks.

        Returns:
            (B, L, d); output t depends only on positions <= t.
        """
        L = items.shape[1]
        pos = torch.arange(self.max_len - L, self.max_len, device=items.device)  # (L,) newest = max_len-1
        x = self.item_emb(items) * math.sqrt(self.cfg.field_dim) + self.pos_emb(pos)  # (B, L, d)
        x = self.emb_dropout(x) * mask.unsqueeze(-1).to(x.dtype)
        for block in self.blocks:
            x = block(x, mask)
        return self.final_norm(x)  # (B, L, d)

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        """(B,) logits <F_newest, E_i>."""
        items, mask = clicked_sequence(batch, self.item_field_index, "right")  # (B, L), (B, L)
        items, mask = items[:, -self.max_len :], mask[:, -self.max_len :]  # keep the newest max_len clicks
        h = self.encode(items, mask)[:, -1]  # (B, d)
        cand = self.item_emb(batch["x"][:, self.item_field_index])  # (B, d)
        return (h * cand).sum(-1)

    def loss(self, batch: dict[str, Tensor]) -> Tensor:
        """Binary cross-entropy with logits on ``batch["label"]`` (mean over the batch)."""
        return F.binary_cross_entropy_with_logits(self.forward(batch), batch["label"].to(torch.float32))

    @torch.no_grad()
    def predict(self, batch: dict[str, Tensor]) -> Tensor:
        """(B,) probabilities sigmoid(score)."""
        return torch.sigmoid(self.forward(batch))


def _build(
    cfg: SASRecConfig, *, cardinalities: Sequence[int], item_field_index: int, seq_len: int, **_: Any
) -> nn.Module:
    if seq_len < 1:
        raise ConfigError(f"context 'seq_len': must be >= 1, got {seq_len}")
    n_items = field_size(cardinalities, item_field_index, "item_field_index")
    return SASRecModel(cfg, n_items, item_field_index, seq_len)


from liftrec.recsys.models.registration import register  # noqa: E402  (registers on import)

register("sasrec", SASRecModel, SASRecConfig, _build)
