"""RIM: Retrieval & Interaction Machine for tabular data prediction.

Paper: Qin, Zhang, Su, Liu, Xin, Tang, He, Li, Yu, "Retrieval & Interaction Machine for Tabular Data
Prediction", KDD 2021.
Reference implementation: github qinjr/RIM (``code/rim.py``, class ``RIM``); read, not copied.

Per target row x_t, RIM retrieves K rows of the table (BM25 over field-value tokens; here the
project's retriever, rows of OTHER users before the target's time, the same rows LIFT gets) and:

* embeds the target and the retrieved rows with one shared embedding table (M fields x w);
* attention over the retrieved rows with the target as query: alpha_i = softmax_i(x_i^T W x_t)
  (masked where nothing was retrieved); x_r = sum_i alpha_i x_i (M fields x w) and the retrieved
  labels y_r = sum_i alpha_i emb(y_i) (w);
* interaction layer: the inner products of EVERY pair among the 2M + 1 vectors
  [x_t's M fields, x_r's M fields, y_r] (target-target, target-retrieved, retrieved-label pairs);
* MLP over [x_t, x_r, interactions, y_r] (ReLU, dropout); y_r joins the last hidden layer again
  before the output (the reference's ``_build_fc_net_res``) -> logit.

LIFT's predictor (:mod:`liftrec.recsys.models.lift`) is this model plus the retrieved rows'
encoded contexts; so :class:`RIMModel` subclasses :class:`~liftrec.recsys.models.lift.LiftModel`
with every context input off, reusing its embedding, key attention and label embedding, and
replaces only the interaction layer and the MLP (RIM's interactions include cross pairs between the
target and the aggregate, LIFT's pair each side only with itself). No context sequences.

Deviations / choices:

* Attention x_i^T W x_t without the reference's query bias (a bias b adds x_i^T b: LIFT's form).
* No batch-norm before the MLP (LIFT has none; the comparison is then about the inputs).
* Embeddings N(0, 0.05^2) as LIFT's (the reference: truncated normal, padding row zeroed).
* One logit with BCE (the reference's 2-way softmax is the same loss); L2 via the training loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from liftrec.recsys.config import check
from liftrec.recsys.models.lift import LiftConfig, LiftModel, pairwise_inner


@dataclass(frozen=True)
class RIMConfig:
    """Hyper-parameters of RIM (``rim``).

    Attributes:
        field_dim: w, the embedding size of each field and of the label.
        mlp: hidden layer widths of the prediction MLP (the reference: 200, 80).
        dropout: dropout after each hidden layer (the reference: keep 0.8).
    """

    field_dim: int = 16
    mlp: tuple[int, ...] = (200, 80)
    dropout: float = 0.2

    def __post_init__(self) -> None:
        check(self.field_dim >= 1, "field_dim", f"must be >= 1, got {self.field_dim}")
        check(all(h >= 1 for h in self.mlp), "mlp", f"widths must be >= 1, got {list(self.mlp)}")
        check(0.0 <= self.dropout < 1.0, "dropout", f"must be in [0, 1), got {self.dropout}")


class RIMModel(LiftModel):
    """RIM over the target row and its K retrieved rows (with their labels).

    Args:
        cfg: hyper-parameters.
        cardinalities: per field, number of codes including 0.
    """

    inputs = frozenset({"x", "keys"})

    def __init__(self, cfg: RIMConfig, cardinalities: Sequence[int]) -> None:
        lift_cfg = LiftConfig(
            field_dim=cfg.field_dim, mlp=cfg.mlp, dropout=cfg.dropout, use_history=False,
            use_future=False, use_own_history=False, use_key_labels=True,
        )  # fmt: skip
        super().__init__(lift_cfg, cardinalities, encoder_dim=0)
        self.cfg = cfg  # type: ignore[assignment]  (LIFT's forward, the only reader of its config, is replaced)
        M, w = self.num_fields, cfg.field_dim
        n_vec = 2 * M + 1  # target fields, aggregated fields, aggregated label
        in_dim = 2 * M * w + n_vec * (n_vec - 1) // 2 + w
        layers: list[nn.Module] = []
        for h in cfg.mlp:
            layers += [nn.Linear(in_dim, h), nn.ReLU(), nn.Dropout(cfg.dropout)]
            in_dim = h
        self.mlp = nn.Sequential(*layers)  # replaces LIFT's MLP: RIM's input and residual output
        self.out = nn.Linear(in_dim + w, 1)  # [last hidden, y_r] -> logit

    def aggregate(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Embeddings and attention aggregates.

        Args:
            batch: "x" (B, M), "keys" (B, K, M), "key_valid" (B, K), "key_label" (B, K).

        Returns:
            x_t (B, M, w), x_r (B, M, w), y_r (B, w) and the attention weights alpha (B, K).
        """
        x = self._embed(batch["x"])  # (B, M, w)
        B, M, w = x.shape
        keys = self._embed(batch["keys"])  # (B, K, M, w)
        K = keys.shape[1]
        alpha = self.attention(x.reshape(B, M * w), keys.reshape(B, K, M * w), batch["key_valid"])  # (B, K)
        x_r = torch.einsum("bk,bkmw->bmw", alpha, keys)  # (B, M, w)
        y_r = torch.einsum("bk,bkw->bw", alpha, self.label_emb(batch["key_label"].long()))  # (B, w)
        return x, x_r, y_r, alpha

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        """(B,) logits from "x", "keys", "key_valid" and "key_label"."""
        x, x_r, y_r, _ = self.aggregate(batch)
        B = x.shape[0]
        inter = pairwise_inner(torch.cat([x, x_r, y_r.unsqueeze(1)], dim=1))  # (B, (2M+1)(2M)/2)
        hidden = self.mlp(torch.cat([x.reshape(B, -1), x_r.reshape(B, -1), inter, y_r], dim=-1))  # (B, H)
        return self.out(torch.cat([hidden, y_r], dim=-1)).squeeze(-1)  # (B,)


def _build(cfg: RIMConfig, *, cardinalities: Sequence[int], **_: Any) -> nn.Module:
    return RIMModel(cfg, cardinalities)


from liftrec.recsys.models.registration import register  # noqa: E402  (registers on import)

register("rim", RIMModel, RIMConfig, _build)
