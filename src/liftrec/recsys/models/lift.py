"""LIFT's predictor F.

Paper: Zheng et al., "Look into the Future: Deep Contextualized Sequential Recommendation", KDD 2025, §3.4.

No LIFT (or DERT) code is public; this follows the paper's text and DESIGN.md §7, with the
embedding / interaction / MLP conventions of RIM (github qinjr/RIM), the closest public reference:

* The target x_t and the K retrieved keys x_i share ONE embedding table (M fields x w each; one
  ``nn.Embedding`` with per-field offsets, so each field keeps its own code space).
* Key-based attention alpha_i = softmax_i(x_i^T W x_t) over the flattened (M*w) embeddings, masked
  where the retrieved row id is -1; a row with no valid key gets alpha = 0 (no NaN), hence zero context.
* x_r = sum_i alpha_i x_i, e_r^h = sum_i alpha_i h_i, e_r^f = sum_i alpha_i f_i, where (h_i, f_i) are
  the frozen encoder's E(history), E(future) of retrieved row i, read from the datastore.
* Interaction layer: the M(M-1)/2 pairwise inner products of field embeddings, for x_t and x_r.
* hidden = [inter(x_t), inter(x_r), e_r^f, e_r^h, h_t, y_r, x_t, x_r] -> MLP (ReLU, dropout) -> logit
  (Eq. 17 has [inter(x_t), inter(x_r), e_r^f, e_r^h, h_t]; y_r, x_t and x_r are switches, below).

Deviations / choices where the paper is silent:

* y_r = sum_i alpha_i emb(y_i), the attention-pooled label embedding of the retrieved rows, is
  appended (``use_key_labels``, default on). The paper's formula lists no label term, but the
  datastore keeps each row's label "for aggregation" (DESIGN.md §5) and RIM, which LIFT extends,
  pools the retrieved labels this way (synthetic data, one seed: test AUC 0.618 without, 0.640 with).
* The flattened embeddings x_t and x_r are appended to the hidden vector (``use_flat_embeddings``,
  default on; as RIM does: pairwise products alone lose the first-order field effects, e.g. an
  item's popularity). The paper's Eq. 17 is ``use_key_labels=False, use_flat_embeddings=False``.
* No 1/sqrt(d) scaling in the attention (the paper has none; the learned W absorbs any scale).
* Embeddings start at N(0, 0.05^2) so the initial attention is near uniform.
* ``use_user_id=False`` blanks the user-id field (padding code 0) in x_t and in the keys: with users
  whose interests drift, the user-id embedding memorises where each user was during training
  (docs/results.md, item 10). Retrieval and the encoder still read the field. Default on (the paper).
* Switches for the paper's ablations: ``use_future=False`` drops e_r^f (history-only context),
  ``use_history=False`` drops e_r^h (future-only), both False drop every retrieved encoder vector (RIM-like);
  ``use_own_history=False`` drops h_t. A model only reads the batch keys it uses.

Batch (see :mod:`liftrec.recsys.models.lift_batch`): "x" (B, M) int64, "keys" (B, K, M) int64,
"key_valid" (B, K) bool, "key_label" (B, K) 0/1, "ret_hist" (B, K, v), "ret_fut" (B, K, v),
"own_hist" (B, v) (float16 or float32), "label" (B,).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from liftrec.recsys.config import check


@dataclass(frozen=True)
class LiftConfig:
    """Hyper-parameters of the LIFT predictor (``lift.model``).

    Attributes:
        field_dim: w, the embedding size of each field.
        mlp: hidden layer widths of the prediction MLP.
        dropout: dropout after each hidden layer.
        use_history: feed e_r^h (retrieved rows' encoded histories).
        use_future: feed e_r^f (retrieved rows' encoded futures).
        use_own_history: feed h_t (the target user's own encoded history).
        use_key_labels: feed y_r = sum_i alpha_i emb(y_i), the attention-pooled label embedding of the
            retrieved rows (RIM's label aggregation; the datastore keeps labels "for aggregation").
        use_user_id: embed the user-id field of the target and the keys (False: blanked to code 0).
        use_flat_embeddings: feed the flattened x_t and x_r next to their pairwise products (RIM).
    """

    field_dim: int = 16
    mlp: tuple[int, ...] = (200, 80)
    dropout: float = 0.2
    use_history: bool = True
    use_future: bool = True
    use_own_history: bool = True
    use_key_labels: bool = True
    use_user_id: bool = True
    use_flat_embeddings: bool = True

    def __post_init__(self) -> None:
        check(self.field_dim >= 1, "field_dim", f"must be >= 1, got {self.field_dim}")
        check(all(h >= 1 for h in self.mlp), "mlp", f"widths must be >= 1, got {list(self.mlp)}")
        check(0.0 <= self.dropout < 1.0, "dropout", f"must be in [0, 1), got {self.dropout}")


def pairwise_inner(emb: Tensor) -> Tensor:
    """Inner products of every pair of field embeddings.

    Args:
        emb: (B, M, w) field embeddings.

    Returns:
        (B, M(M-1)/2) products <e_j, e_k> for j < k, in row-major (j, k) order.
    """
    M = emb.shape[-2]
    gram = emb @ emb.transpose(-1, -2)  # (B, M, M)
    j, k = torch.triu_indices(M, M, offset=1, device=emb.device)  # 2 x (P,)
    return gram[..., j, k]  # (B, P)


class LiftModel(nn.Module):
    """The LIFT predictor F: retrieval-augmented, future-contextualised CTR model.

    Args:
        cfg: predictor hyper-parameters.
        cardinalities: per field, number of codes including 0 (the schema's ``cardinalities``).
        encoder_dim: v, the size of the frozen encoder's vectors (datastore values and h_t).
        user_field_index: position of the user-id field; needed when ``cfg.use_user_id`` is False.
    """

    inputs = frozenset({"x", "keys", "context"})  # batch groups (liftrec.recsys.models.batch)

    def __init__(
        self,
        cfg: LiftConfig,
        cardinalities: Sequence[int],
        encoder_dim: int,
        user_field_index: int | None = None,
    ) -> None:
        super().__init__()
        if len(cardinalities) == 0 or min(cardinalities) < 1:
            raise ValueError(f"cardinalities must be non-empty and >= 1, got {list(cardinalities)}")
        if not cfg.use_user_id and not (
            user_field_index is not None and 0 <= user_field_index < len(cardinalities)
        ):
            raise ValueError(f"use_user_id=False needs the user field's index, got {user_field_index}")
        self.blank_field = None if cfg.use_user_id else user_field_index
        self.cfg = cfg
        self.num_fields = M = len(cardinalities)
        self.encoder_dim = encoder_dim
        w = cfg.field_dim
        offsets = torch.tensor([0, *list(cardinalities)[:-1]], dtype=torch.int64).cumsum(0)  # (M,)
        self.register_buffer("offsets", offsets, persistent=False)
        self.embedding = nn.Embedding(int(sum(cardinalities)), w)
        nn.init.normal_(self.embedding.weight, std=0.05)
        self.attn = nn.Linear(M * w, M * w, bias=False)  # W of x_i^T W x_t
        if cfg.use_key_labels:
            self.label_emb = nn.Embedding(2, w)
            nn.init.normal_(self.label_emb.weight, std=0.05)
        n_context = encoder_dim * (int(cfg.use_history) + int(cfg.use_future) + int(cfg.use_own_history))
        n_flat = 2 * M * w * int(cfg.use_flat_embeddings)
        in_dim = 2 * (M * (M - 1) // 2) + n_flat + n_context + w * int(cfg.use_key_labels)
        layers: list[nn.Module] = []
        for h in cfg.mlp:
            layers += [nn.Linear(in_dim, h), nn.ReLU(), nn.Dropout(cfg.dropout)]
            in_dim = h
        layers.append(nn.Linear(in_dim, 1))
        self.mlp = nn.Sequential(*layers)

    def _embed(self, codes: Tensor) -> Tensor:
        if self.blank_field is not None:
            codes = codes.clone()
            codes[..., self.blank_field] = 0  # the padding code: one shared, learned row
        return self.embedding(codes + self.offsets)  # (..., M) -> (..., M, w)

    def attention(self, x_t: Tensor, keys: Tensor, valid: Tensor) -> Tensor:
        """Masked key-based attention weights alpha.

        Args:
            x_t: (B, M*w) flattened target embedding.
            keys: (B, K, M*w) flattened key embeddings.
            valid: (B, K) bool, False where the retrieved row id is -1.

        Returns:
            (B, K) weights summing to 1 over valid keys, 0 on invalid keys (all 0 when none is valid).
        """
        scores = (keys @ self.attn(x_t).unsqueeze(-1)).squeeze(-1)  # (B, K) = x_i^T W x_t
        # a finite fill (not -inf) keeps an all-invalid row's softmax finite; the product zeroes it
        scores = scores.masked_fill(~valid, torch.finfo(scores.dtype).min)  # (B, K)
        return torch.softmax(scores, dim=-1) * valid.to(scores.dtype)  # (B, K)

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        """Logits of the target labels.

        Args:
            batch: the LIFT batch (module docstring); only the keys the config uses are read.

        Returns:
            (B,) logits.
        """
        x = self._embed(batch["x"])  # (B, M, w)
        B, M, w = x.shape
        keys = self._embed(batch["keys"])  # (B, K, M, w)
        K = keys.shape[1]
        alpha = self.attention(x.reshape(B, M * w), keys.reshape(B, K, M * w), batch["key_valid"])  # (B, K)
        x_r = torch.einsum("bk,bkmw->bmw", alpha, keys)  # (B, M, w)
        dtype = x.dtype
        parts = [pairwise_inner(x), pairwise_inner(x_r)]  # 2 x (B, P)
        if self.cfg.use_future:
            parts.append(torch.einsum("bk,bkv->bv", alpha, batch["ret_fut"].to(dtype)))  # (B, v) e_r^f
        if self.cfg.use_history:
            parts.append(torch.einsum("bk,bkv->bv", alpha, batch["ret_hist"].to(dtype)))  # (B, v) e_r^h
        if self.cfg.use_own_history:
            parts.append(batch["own_hist"].to(dtype))  # (B, v) h_t
        if self.cfg.use_key_labels:
            y_emb = self.label_emb(batch["key_label"].long())  # (B, K, w)
            parts.append(torch.einsum("bk,bkw->bw", alpha, y_emb))  # (B, w) y_r
        if self.cfg.use_flat_embeddings:
            parts += [x.reshape(B, M * w), x_r.reshape(B, M * w)]  # 2 x (B, M*w)
        return self.mlp(torch.cat(parts, dim=-1)).squeeze(-1)  # (B,)

    def loss(self, batch: dict[str, Tensor]) -> Tensor:
        """Binary cross-entropy with logits on ``batch["label"]`` (mean over the batch)."""
        return F.binary_cross_entropy_with_logits(self.forward(batch), batch["label"].to(torch.float32))

    @torch.no_grad()
    def predict(self, batch: dict[str, Tensor]) -> Tensor:
        """(B,) click probabilities sigmoid(logit)."""
        return torch.sigmoid(self.forward(batch))
