"""FPMC: Factorizing Personalized Markov Chains, a top-N baseline.

Paper: Rendle, Freudenthaler and Schmidt-Thieme, "Factorizing Personalized Markov Chains for
Next-Basket Recommendation", WWW 2010. Reference implementation read: RecBole
(github RUCAIBox/RecBole, ``recbole/model/sequential_recommender/fpmc.py``).

score(u, l, i) = <V_u^{U,I}, V_i^{I,U}> + mean_{l in B_last} <V_i^{I,L}, V_l^{L,I}>, the MF term plus the
factorised (pairwise, "FMC") Markov-chain term. The paper drops the item-independent <U,L> term;
so do we.

Deviations / choices:

* Loss: pointwise BCE with logits on our candidate rows (1 positive + sampled negatives per group)
  instead of the paper's S-BPR over all items.
* The last basket is the last *clicked* item of the history (sequential data has one item per step):
  only positions with ``hist_valid & hist_label == 1`` count; a row without any gets no MC term.
* Features: the user and item id fields only; user codes are ``x[:, user_field_index]``.
* Embeddings start at N(0, 0.05^2) (the paper: N(0, 0.01^2)); L2 regularisation is the training
  loop's weight decay.

This module also holds the two history helpers every top-N baseline uses (:func:`clicked_sequence`,
:func:`last_clicked_item`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from liftrec.recsys.config import check
from liftrec.recsys.errors import ConfigError

EMB_STD = 0.05  # embedding init std shared by the top-N baselines


def clicked_mask(batch: dict[str, Tensor]) -> Tensor:
    """(B, L) bool: history positions that are real clicks (valid and label 1)."""
    return batch["hist_valid"].bool() & (batch["hist_label"] == 1)


def clicked_sequence(
    batch: dict[str, Tensor], item_field_index: int, align: Literal["left", "right"]
) -> tuple[Tensor, Tensor]:
    """The clicked history items, compacted (non-clicked and padded positions removed), in time order.

    Args:
        batch: a batch with the "hist" group.
        item_field_index: position of the item field in the rows' fields.
        align: "right" puts the newest click at L-1 (pads first, as the batch does); "left" puts the
            oldest click at 0 (pads last, so a causal model's output at n-1 ignores the pads).

    Returns:
        items (B, L) int64 item codes (0 at pads) and mask (B, L) bool (True at clicks).
    """
    mask = clicked_mask(batch)  # (B, L)
    items = batch["hist"][..., item_field_index]  # (B, L)
    key = mask if align == "right" else ~mask
    order = torch.sort(key.to(torch.int8), dim=1, stable=True).indices  # stable: keeps time order
    mask = mask.gather(1, order)  # (B, L)
    return items.gather(1, order) * mask, mask


def last_clicked_item(batch: dict[str, Tensor], item_field_index: int) -> tuple[Tensor, Tensor]:
    """The newest clicked history item of each row.

    Returns:
        item (B,) int64 code (0 where none) and has (B,) bool (False when the row has no click).
    """
    mask = clicked_mask(batch)  # (B, L)
    L = mask.shape[1]
    pos = torch.where(mask, torch.arange(L, device=mask.device), -1).amax(dim=1)  # (B,) -1 = none
    has = pos >= 0
    item = batch["hist"][..., item_field_index].gather(1, pos.clamp_min(0).unsqueeze(1)).squeeze(1)  # (B,)
    return item * has, has


def field_size(cardinalities: Sequence[int], index: int, name: str) -> int:
    """cardinalities[index], or a ConfigError naming the context key when out of range."""
    if not 0 <= index < len(cardinalities):
        raise ConfigError(f"context '{name}': {index} is not a field index (M = {len(cardinalities)})")
    return int(cardinalities[index])


@dataclass(frozen=True)
class FPMCConfig:
    """FPMC hyper-parameters.

    Attributes:
        field_dim: k, the size of every factor vector.
    """

    field_dim: int = 16

    def __post_init__(self) -> None:
        check(self.field_dim >= 1, "field_dim", f"must be >= 1, got {self.field_dim}")


class FPMCModel(nn.Module):
    """MF + factorised first-order Markov chain over the last clicked item.

    Args:
        cfg: hyper-parameters.
        n_users: codes of the user field (incl. 0).
        n_items: codes of the item field (incl. 0).
        item_field_index: position of the item field in x / hist.
        user_field_index: position of the user field in x.
    """

    inputs = frozenset({"x", "hist"})
    history_selection = "recent"

    def __init__(
        self, cfg: FPMCConfig, n_users: int, n_items: int, item_field_index: int, user_field_index: int
    ) -> None:
        super().__init__()
        self.cfg, self.item_field_index, self.user_field_index = cfg, item_field_index, user_field_index
        k = cfg.field_dim
        self.user_ui = nn.Embedding(n_users, k)  # V^{U,I}
        self.item_iu = nn.Embedding(n_items, k)  # V^{I,U}
        self.item_il = nn.Embedding(n_items, k)  # V^{I,L}: candidate side of the chain
        self.item_li = nn.Embedding(n_items, k)  # V^{L,I}: last-item side of the chain
        for emb in (self.user_ui, self.item_iu, self.item_il, self.item_li):
            nn.init.normal_(emb.weight, std=EMB_STD)

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        """(B,) logits score(u, l, i) (module docstring)."""
        user = batch["x"][:, self.user_field_index]  # (B,)
        item = batch["x"][:, self.item_field_index]  # (B,)
        last, has = last_clicked_item(batch, self.item_field_index)  # (B,), (B,)
        mf = (self.user_ui(user) * self.item_iu(item)).sum(-1)  # (B,)
        fmc = (self.item_il(item) * self.item_li(last)).sum(-1)  # (B,)
        return mf + fmc * has.to(mf.dtype)

    def loss(self, batch: dict[str, Tensor]) -> Tensor:
        """Binary cross-entropy with logits on ``batch["label"]`` (mean over the batch)."""
        return F.binary_cross_entropy_with_logits(self.forward(batch), batch["label"].to(torch.float32))

    @torch.no_grad()
    def predict(self, batch: dict[str, Tensor]) -> Tensor:
        """(B,) probabilities sigmoid(score)."""
        return torch.sigmoid(self.forward(batch))


def _build(
    cfg: FPMCConfig,
    *,
    cardinalities: Sequence[int],
    item_field_index: int,
    user_field_index: int = 0,
    **_: Any,
) -> nn.Module:
    n_users = field_size(cardinalities, user_field_index, "user_field_index")
    n_items = field_size(cardinalities, item_field_index, "item_field_index")
    return FPMCModel(cfg, n_users, n_items, item_field_index, user_field_index)


from liftrec.recsys.models.registration import register  # noqa: E402  (registers on import)

register("fpmc", FPMCModel, FPMCConfig, _build)
