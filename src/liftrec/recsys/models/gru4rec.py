"""GRU4Rec: a GRU over the user's clicked items, a top-N baseline.

Paper: Hidasi, Karatzoglou, Baltrunas and Tikk, "Session-based Recommendations with Recurrent
Neural Networks", ICLR 2016. Reference implementations read: github hidasi/GRU4Rec (the authors'
Theano code) and RecBole (github RUCAIBox/RecBole, ``recbole/model/sequential_recommender/gru4rec.py``).

h_n = GRU(emb(i_1), ..., emb(i_n)) over the clicked history items; score(i) = <h_n, W_i> + b_i, with
an output item embedding W and item bias b separate from the input embedding (the authors' default,
untied output layer).

Deviations / choices:

* Loss: pointwise BCE with logits on our candidate rows (1 positive + sampled negatives per group)
  instead of the paper's session-parallel mini-batch ranking losses (TOP1 / BPR / cross-entropy).
* The sequence is the user's history (not a session), restricted to clicks: positions with
  ``hist_valid & hist_label == 1``. They are *compacted* to the front (oldest at 0, pads after) and
  the GRU state is read at the last click n-1: the GRU is causal, so the trailing pads and the
  removed non-clicks cannot change it (exact, with the GRU's biases, and no packing / CPU lengths).
  A row without clicks has h = 0 (score = b_i).
* Features: the item id field only. Dropout on the input embeddings and on h_n; embeddings start
  at N(0, 0.05^2).
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


def last_state(outputs: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """The output at the last True position of a front-aligned mask.

    Args:
        outputs: (B, L, H) per-step outputs.
        mask: (B, L) bool, front-aligned (True at 0..n-1).

    Returns:
        (B, H) output at n-1 (zeros where n = 0) and (B,) bool n > 0.
    """
    n = mask.sum(1)  # (B,)
    idx = (n - 1).clamp_min(0).view(-1, 1, 1).expand(-1, 1, outputs.shape[-1])  # (B, 1, H)
    has = n > 0
    return outputs.gather(1, idx).squeeze(1) * has.unsqueeze(1).to(outputs.dtype), has


@dataclass(frozen=True)
class GRU4RecConfig:
    """GRU4Rec hyper-parameters.

    Attributes:
        field_dim: item input embedding size.
        hidden_dim: GRU state size (and output item embedding size).
        layers: stacked GRU layers.
        dropout: dropout on the input embeddings and the final state.
    """

    field_dim: int = 16
    hidden_dim: int = 16
    layers: int = 1
    dropout: float = 0.2

    def __post_init__(self) -> None:
        check(self.field_dim >= 1, "field_dim", f"must be >= 1, got {self.field_dim}")
        check(self.hidden_dim >= 1, "hidden_dim", f"must be >= 1, got {self.hidden_dim}")
        check(self.layers >= 1, "layers", f"must be >= 1, got {self.layers}")
        check(0.0 <= self.dropout < 1.0, "dropout", f"must be in [0, 1), got {self.dropout}")


class GRU4RecModel(nn.Module):
    """GRU over the clicked history; final state dot the candidate's output embedding, plus its bias.

    Args:
        cfg: hyper-parameters.
        n_items: codes of the item field (incl. 0).
        item_field_index: position of the item field in x / hist.
    """

    inputs = frozenset({"x", "hist"})
    history_selection = "recent"

    def __init__(self, cfg: GRU4RecConfig, n_items: int, item_field_index: int) -> None:
        super().__init__()
        self.cfg, self.item_field_index = cfg, item_field_index
        self.item_in = nn.Embedding(n_items, cfg.field_dim, padding_idx=0)
        nn.init.normal_(self.item_in.weight, std=EMB_STD)
        with torch.no_grad():
            self.item_in.weight[0].zero_()
        self.gru = nn.GRU(cfg.field_dim, cfg.hidden_dim, num_layers=cfg.layers, batch_first=True)
        self.item_out = nn.Embedding(n_items, cfg.hidden_dim)  # W
        nn.init.normal_(self.item_out.weight, std=EMB_STD)
        self.item_bias = nn.Embedding(n_items, 1)  # b
        nn.init.zeros_(self.item_bias.weight)
        self.dropout = nn.Dropout(cfg.dropout)

    def encode(self, items: Tensor, mask: Tensor) -> Tensor:
        """(B, H) user state h_n from front-aligned clicked items (B, L) and their mask (B, L)."""
        out, _ = self.gru(self.dropout(self.item_in(items)))  # (B, L, H)
        h, _ = last_state(out, mask)  # (B, H)
        return self.dropout(h)

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        """(B,) logits <h_n, W_i> + b_i."""
        items, mask = clicked_sequence(batch, self.item_field_index, "left")  # (B, L), (B, L)
        h = self.encode(items, mask)  # (B, H)
        cand = batch["x"][:, self.item_field_index]  # (B,)
        return (h * self.item_out(cand)).sum(-1) + self.item_bias(cand).squeeze(-1)

    def loss(self, batch: dict[str, Tensor]) -> Tensor:
        """Binary cross-entropy with logits on ``batch["label"]`` (mean over the batch)."""
        return F.binary_cross_entropy_with_logits(self.forward(batch), batch["label"].to(torch.float32))

    @torch.no_grad()
    def predict(self, batch: dict[str, Tensor]) -> Tensor:
        """(B,) probabilities sigmoid(score)."""
        return torch.sigmoid(self.forward(batch))


def _build(cfg: GRU4RecConfig, *, cardinalities: Sequence[int], item_field_index: int, **_: Any) -> nn.Module:
    return GRU4RecModel(
        cfg, field_size(cardinalities, item_field_index, "item_field_index"), item_field_index
    )


from liftrec.recsys.models.registration import register  # noqa: E402  (registers on import)

register("gru4rec", GRU4RecModel, GRU4RecConfig, _build)
