"""NARM: Neural Attentive Recommendation Machine, a top-N baseline.

Paper: Li, Ren, Chen, Ren, Lian and Ma, "Neural Attentive Session-based Recommendation", CIKM 2017.
Reference implementations read: github lijingsdu/sessionRec_NARM (the authors' Theano code) and
RecBole (github RUCAIBox/RecBole, ``recbole/model/sequential_recommender/narm.py``).

A GRU runs over the clicked items (h_1..h_n). Global encoder c_g = h_n; local encoder
c_l = sum_j alpha_j h_j with alpha_j = v^T sigmoid(A_1 h_n + A_2 h_j) (unnormalised, as in the paper);
c = [c_g; c_l]; bilinear decoder score(i) = emb_i^T B c, with the same item embeddings as the input.

Deviations / choices:

* Loss: pointwise BCE with logits on our candidate rows (1 positive + sampled negatives per group)
  instead of the paper's softmax cross-entropy over all items.
* The sequence is the user's history (not a session), restricted to clicks: positions with
  ``hist_valid & hist_label == 1`` are *compacted* to the front (oldest at 0, pads after); the GRU is
  causal, so the states h_1..h_n ignore the trailing pads, and alpha is multiplied by the click mask.
  A row without clicks has c = 0 (score 0).
* Features: the item id field only. Dropout emb_dropout on the item embeddings and ct_dropout on c
  (the paper's 0.25 / 0.5); embeddings start at N(0, 0.05^2).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from liftrec.recsys.config import check
from liftrec.recsys.models.fpmc import EMB_STD, clicked_sequence, field_size
from liftrec.recsys.models.gru4rec import last_state


@dataclass(frozen=True)
class NARMConfig:
    """NARM hyper-parameters.

    Attributes:
        field_dim: item embedding size.
        hidden_dim: GRU state size.
        layers: stacked GRU layers.
        emb_dropout: dropout on the input item embeddings.
        ct_dropout: dropout on the concatenated representation c.
    """

    field_dim: int = 16
    hidden_dim: int = 16
    layers: int = 1
    emb_dropout: float = 0.25
    ct_dropout: float = 0.5

    def __post_init__(self) -> None:
        check(self.field_dim >= 1, "field_dim", f"must be >= 1, got {self.field_dim}")
        check(self.hidden_dim >= 1, "hidden_dim", f"must be >= 1, got {self.hidden_dim}")
        check(self.layers >= 1, "layers", f"must be >= 1, got {self.layers}")
        check(0.0 <= self.emb_dropout < 1.0, "emb_dropout", f"must be in [0, 1), got {self.emb_dropout}")
        check(0.0 <= self.ct_dropout < 1.0, "ct_dropout", f"must be in [0, 1), got {self.ct_dropout}")


class NARMModel(nn.Module):
    """GRU hybrid encoder (global + attentive local) with a bilinear decoder.

    Args:
        cfg: hyper-parameters.
        n_items: codes of the item field (incl. 0).
        item_field_index: position of the item field in x / hist.
    """

    inputs = frozenset({"x", "hist"})
    history_selection = "recent"

    def __init__(self, cfg: NARMConfig, n_items: int, item_field_index: int) -> None:
        super().__init__()
        self.cfg, self.item_field_index = cfg, item_field_index
        d, h = cfg.field_dim, cfg.hidden_dim
        self.item_emb = nn.Embedding(n_items, d, padding_idx=0)
        nn.init.normal_(self.item_emb.weight, std=EMB_STD)
        with torch.no_grad():
            self.item_emb.weight[0].zero_()
        self.gru = nn.GRU(d, h, num_layers=cfg.layers, batch_first=True)
        self.a1 = nn.Linear(h, h, bias=False)  # A_1, applied to h_n
        self.a2 = nn.Linear(h, h, bias=False)  # A_2, applied to h_j
        self.v = nn.Linear(h, 1, bias=False)
        self.bilinear = nn.Linear(2 * h, d, bias=False)  # B: (d x 2h)
        self.emb_dropout = nn.Dropout(cfg.emb_dropout)
        self.ct_dropout = nn.Dropout(cfg.ct_dropout)

    def encode(self, items: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """Session representation B c and local attention weights.

        Args:
            items: (B, L) front-aligned clicked item codes.
            mask: (B, L) bool, True at clicks (0..n-1).

        Returns:
            (B, d) B c, and (B, L) alpha (0 outside the clicks).
        """
        out, _ = self.gru(self.emb_dropout(self.item_emb(items)))  # (B, L, h)
        c_g, _ = last_state(out, mask)  # (B, h), zeros without clicks
        scores = self.v(torch.sigmoid(self.a1(c_g).unsqueeze(1) + self.a2(out))).squeeze(-1)  # (B, L)
        alpha = scores * mask.to(scores.dtype)  # (B, L)
        c_l = torch.einsum("bl,blh->bh", alpha, out)  # (B, h)
        c = self.ct_dropout(torch.cat([c_g, c_l], dim=-1))  # (B, 2h)
        return self.bilinear(c), alpha

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        """(B,) logits emb_i^T B c."""
        items, mask = clicked_sequence(batch, self.item_field_index, "left")  # (B, L), (B, L)
        rep, _ = self.encode(items, mask)  # (B, d)
        cand = self.item_emb(batch["x"][:, self.item_field_index])  # (B, d)
        return (rep * cand).sum(-1)

    def loss(self, batch: dict[str, Tensor]) -> Tensor:
        """Binary cross-entropy with logits on ``batch["label"]`` (mean over the batch)."""
        return F.binary_cross_entropy_with_logits(self.forward(batch), batch["label"].to(torch.float32))

    @torch.no_grad()
    def predict(self, batch: dict[str, Tensor]) -> Tensor:
        """(B,) probabilities sigmoid(score)."""
        return torch.sigmoid(self.forward(batch))


def _build(cfg: NARMConfig, *, cardinalities: Sequence[int], item_field_index: int, **_: Any) -> nn.Module:
    return NARMModel(cfg, field_size(cardinalities, item_field_index, "item_field_index"), item_field_index)


from liftrec.recsys.models.registration import register  # noqa: E402  (registers on import)

register("narm", NARMModel, NARMConfig, _build)
