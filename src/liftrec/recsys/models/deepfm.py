"""DeepFM, and the small building blocks the CTR baselines share.

Paper: Guo, Tang, Ye, Li, He, "DeepFM: A Factorization-Machine based Neural Network for CTR
Prediction", IJCAI 2017.
Reference implementation: github shenweichen/DeepCTR-Torch (``deepctr_torch/models/deepfm.py``,
``layers/interaction.py`` FM); read, not copied.

logit = w_0 + sum_j w_{x_j} (first order) + FM(e_1..e_M) (second order) + DNN([e_1; ..; e_M]), where
the FM and the DNN share the field embeddings e_j and FM(e) = 1/2 sum_f ((sum_j e_jf)^2 - sum_j e_jf^2)
= sum_{j<k} <e_j, e_k>.

Deviations: the model reads only the target row's M fields (group "x"), trained pointwise with BCE on
our candidate rows. Widths follow the common setting of the LIFT/RIM comparison (embedding 16, MLP
200-80, dropout 0.2) rather than the DeepFM paper's 400-400-400 / dropout 0.5, so every baseline is
run at the same size.

Shared blocks (reused by din.py, dien.py, bert4rec.py): :class:`FieldEmbedding` (one table with
per-field offsets, so each field keeps its own code space), :func:`mlp` (a ReLU / PReLU / Dice /
sigmoid tower) and :class:`Dice` (DIN's data-adaptive activation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from liftrec.recsys.config import check

Activation = Literal["relu", "prelu", "dice", "sigmoid"]


class FieldEmbedding(nn.Module):
    """Embeds (..., M) field codes into (..., M, dim), field j in its own code space.

    Args:
        cardinalities: per field, number of codes including 0 (padding / unknown).
        dim: embedding size of each field.
        std: initial N(0, std^2) scale (small, so attention starts near uniform).
    """

    def __init__(self, cardinalities: Sequence[int], dim: int, std: float = 0.05) -> None:
        super().__init__()
        if len(cardinalities) == 0 or min(cardinalities) < 1:
            raise ValueError(f"cardinalities must be non-empty and >= 1, got {list(cardinalities)}")
        self.num_fields = len(cardinalities)
        self.dim = dim
        offsets = torch.tensor([0, *list(cardinalities)[:-1]], dtype=torch.int64).cumsum(0)  # (M,)
        self.register_buffer("offsets", offsets, persistent=False)
        self.weight = nn.Embedding(int(sum(cardinalities)), dim)
        nn.init.normal_(self.weight.weight, std=std)

    def forward(self, codes: Tensor) -> Tensor:
        """(..., M) int64 codes -> (..., M, dim) embeddings."""
        return self.weight(codes + self.offsets)


class Dice(nn.Module):
    """Dice (DIN, Zhou et al. KDD 2018 eq. 9): p(s) * s + (1 - p(s)) * alpha * s, p = sigmoid(BN(s)).

    The normalisation uses batch statistics over every leading dimension while training and running
    averages in eval mode; computed by hand (not ``BatchNorm1d``) so a batch of one row still trains.

    Args:
        dim: size of the last dimension.
        eps: variance floor.
        momentum: weight of the new batch in the running averages.
    """

    def __init__(self, dim: int, eps: float = 1e-8, momentum: float = 0.01) -> None:
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.alpha = nn.Parameter(torch.zeros(dim))
        self.register_buffer("running_mean", torch.zeros(dim))
        self.register_buffer("running_var", torch.ones(dim))

    def forward(self, s: Tensor) -> Tensor:
        if self.training:
            flat = s.reshape(-1, s.shape[-1])  # (N, dim)
            mean, var = flat.mean(0), flat.var(0, unbiased=False)  # (dim,)
            with torch.no_grad():
                self.running_mean.lerp_(mean.detach(), self.momentum)
                self.running_var.lerp_(var.detach(), self.momentum)
        else:
            mean, var = self.running_mean, self.running_var
        p = torch.sigmoid((s - mean) / torch.sqrt(var + self.eps))
        return p * s + (1.0 - p) * self.alpha * s


class PReLU(nn.Module):
    """PReLU with one slope per feature of the LAST dimension (``nn.PReLU`` uses dim 1)."""

    def __init__(self, dim: int, init: float = 0.25) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full((dim,), init))

    def forward(self, s: Tensor) -> Tensor:
        return torch.where(s >= 0, s, self.weight * s)


def _activation(name: str, dim: int) -> nn.Module:
    if name == "relu":
        return nn.ReLU()
    if name == "prelu":
        return PReLU(dim)
    if name == "dice":
        return Dice(dim)
    if name == "sigmoid":
        return nn.Sigmoid()
    raise ValueError(f"unknown activation '{name}'")


def mlp(
    in_dim: int, hidden: Sequence[int], dropout: float, out_dim: int = 1, activation: str = "relu"
) -> nn.Sequential:
    """Linear -> activation -> dropout per hidden width, then a final Linear to ``out_dim``.

    Args:
        in_dim: input width.
        hidden: hidden layer widths (may be empty: a single Linear).
        dropout: dropout after each hidden layer.
        out_dim: output width (1 for a logit).
        activation: "relu", "prelu", "dice" or "sigmoid"; applies to the last dimension.

    Returns:
        The tower, applicable to (..., in_dim) inputs.
    """
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [nn.Linear(in_dim, h), _activation(activation, h)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        in_dim = h
    layers.append(nn.Linear(in_dim, out_dim))
    return nn.Sequential(*layers)


def fm_interaction(emb: Tensor) -> Tensor:
    """Factorization-machine second-order term sum_{j<k} <e_j, e_k>, in O(M w).

    Args:
        emb: (B, M, w) field embeddings.

    Returns:
        (B,) the sum of pairwise inner products.
    """
    square_of_sum = emb.sum(dim=1).pow(2)  # (B, w)
    sum_of_square = emb.pow(2).sum(dim=1)  # (B, w)
    return 0.5 * (square_of_sum - sum_of_square).sum(dim=-1)  # (B,)


@dataclass(frozen=True)
class DeepFMConfig:
    """Hyper-parameters of DeepFM (``deepfm``).

    Attributes:
        field_dim: embedding size of each field (shared by the FM and the DNN).
        mlp: hidden widths of the DNN part.
        dropout: dropout after each DNN hidden layer.
    """

    field_dim: int = 16
    mlp: tuple[int, ...] = (200, 80)
    dropout: float = 0.2

    def __post_init__(self) -> None:
        check(self.field_dim >= 1, "field_dim", f"must be >= 1, got {self.field_dim}")
        check(all(h >= 1 for h in self.mlp), "mlp", f"widths must be >= 1, got {list(self.mlp)}")
        check(0.0 <= self.dropout < 1.0, "dropout", f"must be in [0, 1), got {self.dropout}")


class DeepFMModel(nn.Module):
    """DeepFM over the target row's M categorical fields.

    Args:
        cfg: hyper-parameters.
        cardinalities: per field, number of codes including 0.
    """

    inputs = frozenset({"x"})

    def __init__(self, cfg: DeepFMConfig, cardinalities: Sequence[int]) -> None:
        super().__init__()
        self.cfg = cfg
        M = len(cardinalities)
        self.embedding = FieldEmbedding(cardinalities, cfg.field_dim)
        self.first_order = FieldEmbedding(cardinalities, 1, std=0.0)  # w_{x_j}, start at 0
        self.bias = nn.Parameter(torch.zeros(()))
        self.dnn = mlp(M * cfg.field_dim, cfg.mlp, cfg.dropout)

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        """(B,) logits of the target rows ``batch["x"]`` (B, M)."""
        x = batch["x"]
        emb = self.embedding(x)  # (B, M, w)
        linear = self.first_order(x).sum(dim=(1, 2))  # (B,)
        deep = self.dnn(emb.flatten(1)).squeeze(-1)  # (B,)
        return self.bias + linear + fm_interaction(emb) + deep  # (B,)

    def loss(self, batch: dict[str, Tensor]) -> Tensor:
        """Binary cross-entropy with logits on ``batch["label"]`` (mean over the batch)."""
        return F.binary_cross_entropy_with_logits(self.forward(batch), batch["label"].to(torch.float32))

    @torch.no_grad()
    def predict(self, batch: dict[str, Tensor]) -> Tensor:
        """(B,) click probabilities sigmoid(logit)."""
        return torch.sigmoid(self.forward(batch))


def _build(cfg: DeepFMConfig, *, cardinalities: Sequence[int], **_: Any) -> nn.Module:
    return DeepFMModel(cfg, cardinalities)


from liftrec.recsys.models.registration import register  # noqa: E402  (registers on import)

register("deepfm", DeepFMModel, DeepFMConfig, _build)
