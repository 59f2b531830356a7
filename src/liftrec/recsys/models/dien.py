"""DIEN: Deep Interest Evolution Network.

Paper: Zhou, Mou, Fan, Pi, Bian, Zhou, Zhu, Gai, "Deep Interest Evolution Network for Click-Through
Rate Prediction", AAAI 2019.
Reference implementations: github mouna99/dien (``script/model.py`` DIEN_with_neg, ``utils.py``
VecAttGRUCell / din_fcn_attention) and reczoo/FuxiCTR ``model_zoo/DIEN``; read, not copied.

* Behaviour layer: each history row -> [field embeddings; label embedding] (din.RowEmbedding), the
  target with the "unknown" label, D = (M+1) w.
* Interest extractor: a GRU over the history, states h_1..h_L (hidden size H).
* Auxiliary loss (``aux_loss``, default on, weight ``aux_weight``): h_t must tell the NEXT behaviour's
  item embedding e_{t+1} (positive) from a negative item e'_{t+1}, through a small sigmoid MLP on
  [h_t; e]; BCE over the pairs where rows t and t+1 are valid and row t+1 is a click.
* Interest evolution: attention a_t = softmax over valid t of the activation unit on (h_t, target)
  (din.TargetAttention, query mapped to H by Linear + PReLU, as the reference's din_fcn_attention),
  then AUGRU: u'_t = a_t * u_t, h'_t = (1 - u'_t) h'_{t-1} + u'_t h~_t; the final state h'_L is the
  evolved interest.
* logit = MLP([t, h'_L, mean_i h_i-rows, t * mean]) (Dice), as the reference's
  [item, interest, history sum, item * history sum] input.

Deviations / choices:

* The negative of the auxiliary loss is the item of the same position in ANOTHER row of the batch
  (the batch rolled by one, which the shuffling loader makes a random other user; a derangement, so
  never the row itself), not a separately sampled "no-click" item; only the item field
  (``item_field_index``) enters the auxiliary loss, since a whole row would carry the user field and
  make the task trivial. The reference also uses the item's category; ours knows only the item field.
* Histories are left-padded; the recurrences skip padded steps (the state is carried), so the
  result equals running the GRU on the valid rows only. History-row mean instead of sum (scale).
* Pointwise BCE on our candidate rows; widths 16 / 200-80 / dropout 0.2.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from liftrec.recsys.config import check
from liftrec.recsys.errors import ConfigError
from liftrec.recsys.models.deepfm import Activation, mlp
from liftrec.recsys.models.din import RowEmbedding, TargetAttention


class AUGRU(nn.Module):
    """A GRU whose update gate is scaled by an attention score (a plain GRU when none is given).

    Args:
        input_dim: size of each input vector.
        hidden_dim: H, size of the state.
    """

    def __init__(self, input_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.hidden_dim = hidden_dim
        self.x2h = nn.Linear(input_dim, 3 * hidden_dim)
        self.h2h = nn.Linear(hidden_dim, 3 * hidden_dim)

    def forward(self, seq: Tensor, valid: Tensor, att: Tensor | None = None) -> Tensor:
        """Run over a left-padded sequence.

        Args:
            seq: (B, L, I) inputs.
            valid: (B, L) bool; at False steps the state is carried unchanged.
            att: (B, L) attention scores scaling the update gate (None = 1, a GRU).

        Returns:
            (B, L, H) states after each step (zeros before the first valid step).
        """
        B, L, _ = seq.shape
        gx = self.x2h(seq)  # (B, L, 3H), all input projections at once
        h = seq.new_zeros(B, self.hidden_dim)  # (B, H)
        states = []
        for i in range(L):  # a loop over time steps (L is small), never over rows
            xr, xu, xn = gx[:, i].chunk(3, dim=-1)  # 3 x (B, H)
            hr, hu, hn = self.h2h(h).chunk(3, dim=-1)  # 3 x (B, H)
            r = torch.sigmoid(xr + hr)
            u = torch.sigmoid(xu + hu)  # (B, H)
            if att is not None:
                u = att[:, i : i + 1] * u  # AUGRU: u'_t = a_t u_t
            cand = torch.tanh(xn + r * hn)  # (B, H)
            h = torch.where(valid[:, i : i + 1], (1.0 - u) * h + u * cand, h)
            states.append(h)
        return torch.stack(states, dim=1)  # (B, L, H)


@dataclass(frozen=True)
class DIENConfig:
    """Hyper-parameters of DIEN (``dien``).

    Attributes:
        field_dim: embedding size of each field (and of the label).
        hidden_dim: H, the GRU / AUGRU state size; None = the row embedding size (M+1) field_dim,
            as the reference (state size = behaviour embedding size).
        mlp: hidden widths of the prediction MLP.
        dropout: dropout after each prediction-MLP hidden layer.
        activation: activation of the prediction MLP ("dice" as the reference, "prelu", "relu").
        attention_mlp: hidden widths of the attention unit.
        aux_loss: add the auxiliary next-behaviour loss in ``loss`` (needs ``item_field_index``).
        aux_weight: its weight (the reference uses 1).
        aux_mlp: hidden widths of the auxiliary network (sigmoid, as the reference's 100-50).
    """

    field_dim: int = 16
    hidden_dim: int | None = None
    mlp: tuple[int, ...] = (200, 80)
    dropout: float = 0.2
    activation: Activation = "dice"
    attention_mlp: tuple[int, ...] = (80, 40)
    aux_loss: bool = True
    aux_weight: float = 1.0
    aux_mlp: tuple[int, ...] = (100, 50)

    def __post_init__(self) -> None:
        check(self.field_dim >= 1, "field_dim", f"must be >= 1, got {self.field_dim}")
        check(
            self.hidden_dim is None or self.hidden_dim >= 1,
            "hidden_dim",
            f"must be >= 1, got {self.hidden_dim}",
        )
        for name in ("mlp", "attention_mlp", "aux_mlp"):
            widths = getattr(self, name)
            check(all(h >= 1 for h in widths), name, f"widths must be >= 1, got {list(widths)}")
        check(0.0 <= self.dropout < 1.0, "dropout", f"must be in [0, 1), got {self.dropout}")
        check(self.aux_weight >= 0.0, "aux_weight", f"must be >= 0, got {self.aux_weight}")


class DIENModel(nn.Module):
    """DIEN over the target row and the user's history.

    Args:
        cfg: hyper-parameters.
        cardinalities: per field, number of codes including 0.
        item_field_index: position of the item field in a row (needed by the auxiliary loss).
    """

    inputs = frozenset({"x", "hist"})

    def __init__(
        self, cfg: DIENConfig, cardinalities: Sequence[int], item_field_index: int | None = None
    ) -> None:
        super().__init__()
        if cfg.aux_loss and item_field_index is None:
            raise ConfigError("model 'dien': aux_loss needs the context key 'item_field_index'")
        if item_field_index is not None and not 0 <= item_field_index < len(cardinalities):
            raise ConfigError(
                f"model 'dien': item_field_index {item_field_index} outside 0..{len(cardinalities) - 1}"
            )
        self.cfg = cfg
        self.item_field_index = item_field_index
        self.rows = RowEmbedding(cardinalities, cfg.field_dim)
        D = self.rows.out_dim
        H = cfg.hidden_dim or D
        self.extractor = AUGRU(D, H)
        self.attention = TargetAttention(H, query_dim=D, hidden=cfg.attention_mlp, normalize="softmax")
        self.evolution = AUGRU(H, H)
        self.mlp = mlp(3 * D + H, cfg.mlp, cfg.dropout, activation=cfg.activation)
        if cfg.aux_loss:
            self.aux_net = mlp(H + cfg.field_dim, cfg.aux_mlp, 0.0, activation="sigmoid")

    def _run(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """(B,) logits and (B, L, H) extractor states."""
        valid = batch["hist_valid"]  # (B, L)
        t = self.rows(batch["x"])  # (B, D)
        rows = self.rows(batch["hist"], batch["hist_label"])  # (B, L, D)
        states = self.extractor(rows, valid)  # (B, L, H)
        att = self.attention.weights(t, states, valid)  # (B, L), softmax over valid steps
        interest = self.evolution(states, valid, att)[:, -1]  # (B, H), the newest step's state
        mask = valid.unsqueeze(-1).to(rows.dtype)  # (B, L, 1)
        mean = (rows * mask).sum(1) / mask.sum(1).clamp(min=1.0)  # (B, D), 0 for an empty history
        logit = self.mlp(torch.cat([t, interest, mean, t * mean], dim=-1)).squeeze(-1)  # (B,)
        return logit, states

    def auxiliary_loss(self, batch: dict[str, Tensor], states: Tensor) -> Tensor:
        """BCE of telling the next clicked behaviour's item from another row's item.

        Args:
            batch: the batch ("hist", "hist_label", "hist_valid").
            states: (B, L, H) interest-extractor states.

        Returns:
            Scalar mean BCE over the usable (t, t+1) pairs (0 when there are none).
        """
        valid = batch["hist_valid"]
        items = self.rows.fields(batch["hist"])[..., self.item_field_index, :]  # (B, L, w)
        pos = items[:, 1:]  # (B, L-1, w), e_{t+1}
        neg = items.roll(1, dims=0)[:, 1:]  # (B, L-1, w), another row's item at t+1
        use = valid[:, :-1] & valid[:, 1:] & (batch["hist_label"][:, 1:] == 1) & valid.roll(1, dims=0)[:, 1:]
        h = states[:, :-1]  # (B, L-1, H)
        logits = torch.stack(
            [self.aux_net(torch.cat([h, pos], -1)), self.aux_net(torch.cat([h, neg], -1))], dim=0
        ).squeeze(-1)  # (2, B, L-1)
        target = torch.stack([torch.ones_like(logits[0]), torch.zeros_like(logits[1])])  # (2, B, L-1)
        bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")  # (2, B, L-1)
        w = use.to(bce.dtype).expand_as(bce)
        return (bce * w).sum() / w.sum().clamp(min=1.0)

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        """(B,) logits from "x" (B, M), "hist" (B, L, M), "hist_label" (B, L), "hist_valid" (B, L)."""
        return self._run(batch)[0]

    def loss(self, batch: dict[str, Tensor]) -> Tensor:
        """BCE with logits on ``batch["label"]``, plus ``aux_weight`` x the auxiliary loss when enabled."""
        logit, states = self._run(batch)
        loss = F.binary_cross_entropy_with_logits(logit, batch["label"].to(torch.float32))
        if self.cfg.aux_loss and states.shape[0] > 1 and states.shape[1] > 1:
            loss = loss + self.cfg.aux_weight * self.auxiliary_loss(batch, states)
        return loss

    @torch.no_grad()
    def predict(self, batch: dict[str, Tensor]) -> Tensor:
        """(B,) click probabilities sigmoid(logit)."""
        return torch.sigmoid(self.forward(batch))


def _build(
    cfg: DIENConfig, *, cardinalities: Sequence[int], item_field_index: int | None = None, **_: Any
) -> nn.Module:
    return DIENModel(cfg, cardinalities, item_field_index)


from liftrec.recsys.models.registration import register  # noqa: E402  (registers on import)

register("dien", DIENModel, DIENConfig, _build)
