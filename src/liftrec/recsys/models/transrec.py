"""TransRec: translation-based sequential recommendation, a top-N baseline.

Paper: He, Kang and McAuley, "Translation-based Recommendation", RecSys 2017. Reference
implementation read: RecBole (github RUCAIBox/RecBole, ``recbole/model/sequential_recommender/transrec.py``);
the authors' code is C++.

Items are points gamma_i in a "transition space" Psi; a user u is a translation t_u added to a global
translation t. score(u, l, i) = beta_i - ||gamma_l + t + t_u - gamma_i||_2 (+ b, below), l = the
user's last item.
As in the paper, Psi is the unit ball: gamma_i is renormalised to ||gamma_i|| <= 1 (here in forward,
gamma / max(1, ||gamma||), differentiable, rather than an in-place projection after each step).

Deviations / choices:

* Loss: pointwise BCE with logits on our candidate rows (1 positive + sampled negatives per group)
  instead of the paper's S-BPR. For it, a global offset b is added to the score: it is the same for
  every candidate, so it changes no ranking, but the logit beta_i - d is otherwise bounded by beta_i,
  and BCE needs positives' logits well above 0 (without it a tiny batch needs ~2x the steps to fit).
* l is the last *clicked* history item (``hist_valid & hist_label == 1``); a row without one uses
  gamma_l = 0, i.e. scores by beta_i - ||t + t_u - gamma_i||.
* Features: the user and item id fields only; user codes are ``x[:, user_field_index]``.
* t starts at 0 and t_u, gamma at N(0, 0.05^2); the paper's L2 regularisation is the training
  loop's weight decay.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from liftrec.recsys.config import check
from liftrec.recsys.models.fpmc import EMB_STD, field_size, last_clicked_item


def unit_ball(v: Tensor) -> Tensor:
    """(..., d) vectors projected onto the unit ball: v / max(1, ||v||)."""
    return v / torch.linalg.vector_norm(v, dim=-1, keepdim=True).clamp_min(1.0)


@dataclass(frozen=True)
class TransRecConfig:
    """TransRec hyper-parameters.

    Attributes:
        field_dim: K, the dimension of the transition space.
    """

    field_dim: int = 16

    def __post_init__(self) -> None:
        check(self.field_dim >= 1, "field_dim", f"must be >= 1, got {self.field_dim}")


class TransRecModel(nn.Module):
    """Translation from the last clicked item by t + t_u; score = beta_i - L2 distance to gamma_i.

    Args:
        cfg: hyper-parameters.
        n_users: codes of the user field (incl. 0).
        n_items: codes of the item field (incl. 0).
        item_field_index: position of the item field in x / hist.
        user_field_index: position of the user field in x.
    """

    inputs = frozenset({"x", "hist"})
    history_selection = "recent"

    def __init__(self, cfg: TransRecConfig, n_users: int, n_items: int, item_field_index: int,
                 user_field_index: int) -> None:  # fmt: skip
        super().__init__()
        self.cfg, self.item_field_index, self.user_field_index = cfg, item_field_index, user_field_index
        k = cfg.field_dim
        self.item_emb = nn.Embedding(n_items, k)  # gamma (before renormalisation)
        self.user_trans = nn.Embedding(n_users, k)  # t_u
        for emb in (self.item_emb, self.user_trans):
            nn.init.normal_(emb.weight, std=EMB_STD)
        self.global_trans = nn.Parameter(torch.zeros(k))  # t
        self.item_bias = nn.Embedding(n_items, 1)  # beta
        nn.init.zeros_(self.item_bias.weight)
        self.offset = nn.Parameter(torch.zeros(()))  # b: calibration for the pointwise loss

    def gamma(self, items: Tensor) -> Tensor:
        """(..., K) item points in the unit ball."""
        return unit_ball(self.item_emb(items))

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        """(B,) logits b + beta_i - ||gamma_l + t + t_u - gamma_i||."""
        user = batch["x"][:, self.user_field_index]  # (B,)
        item = batch["x"][:, self.item_field_index]  # (B,)
        last, has = last_clicked_item(batch, self.item_field_index)  # (B,), (B,)
        prev = self.gamma(last) * has.unsqueeze(-1).to(self.global_trans.dtype)  # (B, K)
        dest = prev + self.global_trans + self.user_trans(user)  # (B, K)
        dist = torch.linalg.vector_norm(dest - self.gamma(item), dim=-1)  # (B,) subgradient 0 at 0, no NaN
        return self.offset + self.item_bias(item).squeeze(-1) - dist

    def loss(self, batch: dict[str, Tensor]) -> Tensor:
        """Binary cross-entropy with logits on ``batch["label"]`` (mean over the batch)."""
        return F.binary_cross_entropy_with_logits(self.forward(batch), batch["label"].to(torch.float32))

    @torch.no_grad()
    def predict(self, batch: dict[str, Tensor]) -> Tensor:
        """(B,) probabilities sigmoid(score)."""
        return torch.sigmoid(self.forward(batch))


def _build(
    cfg: TransRecConfig,
    *,
    cardinalities: Sequence[int],
    item_field_index: int,
    user_field_index: int = 0,
    **_: Any,
) -> nn.Module:
    n_users = field_size(cardinalities, user_field_index, "user_field_index")
    n_items = field_size(cardinalities, item_field_index, "item_field_index")
    return TransRecModel(cfg, n_users, n_items, item_field_index, user_field_index)


from liftrec.recsys.models.registration import register  # noqa: E402  (registers on import)

register("transrec", TransRecModel, TransRecConfig, _build)
