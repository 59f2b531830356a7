"""LIFT's sequence encoder E (Zheng et al., "Look into the Future", KDD 2025, §3.2 and Table 4).

A window of L interactions (chronological, left-padded) becomes L tokens::

    token_i = Linear(concat of the M field embeddings of x_i) + label_emb(y_i) + pos_emb(i)

where the label token is 0, 1, [MASK] or [PAD]. Three bodies share that tokeniser:

* ``transformer_decoder`` (the paper's default): causal self-attention, position i sees 0..i.
* ``transformer_encoder``: bidirectional self-attention.
* ``gru``: a multi-layer GRU run over the valid tokens only (packed), ``heads`` unused.

No LIFT code is public; this follows the paper's text. Choices where it is silent:

* Pre-LN Transformer blocks (LayerNorm before attention and MLP, a final LayerNorm), GELU MLP of
  width 4v, as in GPT-2 / nanoGPT: stable without warm-up at small sizes.
* Positions are right-aligned: the most recent slot always has position ``max_len - 1``, so a
  window's encoding does not depend on how many pads precede it.
* Padding (label == PAD) is never attended to as a key. Each query may always attend to itself,
  so a pad query (or a fully padded row) still has a non-empty softmax and never yields NaN.
  Outputs at pad positions are then set to 0: a fully padded row encodes to the zero vector, and
  nothing at a pad position can change any output.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from liftrec.recsys.config import check

LABEL_NEG, LABEL_POS, LABEL_MASK, LABEL_PAD = 0, 1, 2, 3
NUM_LABEL_TOKENS = 4


@dataclass(frozen=True)
class EncoderConfig:
    """Hyper-parameters of the sequence encoder (``pretrain.encoder``).

    Attributes:
        kind: "transformer_decoder" (causal, default), "transformer_encoder" or "gru".
        dim: v, the hidden and output size.
        field_dim: per-field embedding size before the projection to ``dim``.
        layers: number of Transformer blocks or GRU layers.
        heads: attention heads (Transformers only; must divide ``dim``).
        dropout: dropout on tokens, attention, MLP and between GRU layers.
        max_len: largest window length L accepted.
        pooling: how :meth:`SequenceEncoder.encode` summarises a window: "last" (the paper's o_T, the
            state at the most recent position) or "mean" (the mean of the states at valid positions).
        blank_fields: indices of fields read as the padding code 0 whatever their value (set by the
            pretraining stage from ``pretrain.encode_user_fields``: the user-side fields).
    """

    kind: Literal["transformer_decoder", "transformer_encoder", "gru"] = "transformer_decoder"
    dim: int = 32
    field_dim: int = 16
    layers: int = 2
    heads: int = 2
    dropout: float = 0.1
    max_len: int = 64
    pooling: Literal["last", "mean"] = "last"
    blank_fields: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        check(self.dim >= 1, "dim", f"must be >= 1, got {self.dim}")
        check(self.field_dim >= 1, "field_dim", f"must be >= 1, got {self.field_dim}")
        check(self.layers >= 1, "layers", f"must be >= 1, got {self.layers}")
        check(self.heads >= 1, "heads", f"must be >= 1, got {self.heads}")
        check(0.0 <= self.dropout < 1.0, "dropout", f"must be in [0, 1), got {self.dropout}")
        check(self.max_len >= 1, "max_len", f"must be >= 1, got {self.max_len}")
        check(self.pooling in ("last", "mean"), "pooling", f"must be last or mean, got {self.pooling!r}")
        check(
            all(i >= 0 for i in self.blank_fields), "blank_fields", f"must be >= 0, got {self.blank_fields}"
        )
        if self.kind != "gru":
            check(self.dim % self.heads == 0, "heads", f"must divide dim={self.dim}, got {self.heads}")


class _Block(nn.Module):
    """Pre-LN Transformer block: x + Attn(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, allowed: Tensor) -> Tensor:
        B, L, D = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(D, dim=-1)  # 3 x (B, L, D)
        H = self.heads
        q, k, v = (t.view(B, L, H, D // H).transpose(1, 2) for t in (q, k, v))  # (B, H, L, d)
        a = F.scaled_dot_product_attention(
            q, k, v, attn_mask=allowed, dropout_p=self.dropout if self.training else 0.0
        )  # (B, H, L, d)
        x = x + self.drop(self.proj(a.transpose(1, 2).reshape(B, L, D)))
        return x + self.drop(self.mlp(self.ln2(x)))  # (B, L, D)


class SequenceEncoder(nn.Module):
    """Encodes windows of interactions into per-position states and a sequence vector.

    Args:
        cfg: encoder hyper-parameters.
        cardinalities: per field, the number of codes including 0 (pad / unknown).
    """

    def __init__(self, cfg: EncoderConfig, cardinalities: Sequence[int]) -> None:
        super().__init__()
        if len(cardinalities) == 0 or min(cardinalities) < 1:
            raise ValueError(f"cardinalities must be non-empty and >= 1, got {list(cardinalities)}")
        self.cfg = cfg
        self.out_dim = cfg.dim
        self.num_fields = len(cardinalities)
        # One table per field: an out-of-range code fails loudly instead of reading another field's rows.
        self.field_emb = nn.ModuleList(nn.Embedding(int(c), cfg.field_dim) for c in cardinalities)
        if any(i >= len(cardinalities) for i in cfg.blank_fields):
            raise ValueError(f"blank_fields {cfg.blank_fields} outside the {len(cardinalities)} fields")
        keep = torch.ones(len(cardinalities), dtype=torch.long)
        keep[list(cfg.blank_fields)] = 0
        self.register_buffer("field_keep", keep, persistent=False)  # (M,) 0 = read as padding
        self.field_proj = nn.Linear(self.num_fields * cfg.field_dim, cfg.dim)
        self.label_emb = nn.Embedding(NUM_LABEL_TOKENS, cfg.dim)
        self.pos_emb = nn.Embedding(cfg.max_len, cfg.dim)
        self.drop = nn.Dropout(cfg.dropout)
        if cfg.kind == "gru":
            self.gru = nn.GRU(
                cfg.dim,
                cfg.dim,
                num_layers=cfg.layers,
                batch_first=True,
                dropout=cfg.dropout if cfg.layers > 1 else 0.0,
            )
        else:
            self.blocks = nn.ModuleList(_Block(cfg.dim, cfg.heads, cfg.dropout) for _ in range(cfg.layers))
            self.ln_f = nn.LayerNorm(cfg.dim)
        for m in self.modules():
            if isinstance(m, nn.Embedding):
                nn.init.normal_(m.weight, std=0.02)

    def _tokens(self, fields: Tensor, labels: Tensor) -> Tensor:
        B, L, M = fields.shape
        if M != self.num_fields:
            raise ValueError(f"fields has {M} fields, the encoder was built for {self.num_fields}")
        if L > self.cfg.max_len:
            raise ValueError(f"window length {L} exceeds encoder max_len {self.cfg.max_len}")
        if labels.shape != (B, L):
            raise ValueError(f"labels shape {tuple(labels.shape)} does not match fields {(B, L)}")
        fields = fields * self.field_keep  # (B, L, M) blanked fields become the padding code 0
        emb = torch.cat([e(fields[..., j]) for j, e in enumerate(self.field_emb)], dim=-1)  # (B, L, M*f)
        pos = torch.arange(self.cfg.max_len - L, self.cfg.max_len, device=fields.device)  # (L,) right-aligned
        tok = self.field_proj(emb) + self.label_emb(labels) + self.pos_emb(pos)  # (B, L, v)
        return self.drop(tok)

    def _attend(self, x: Tensor, valid: Tensor) -> Tensor:
        L = x.shape[1]
        eye = torch.eye(L, dtype=torch.bool, device=x.device)  # (L, L) a query always sees itself
        allowed = valid[:, None, :] | eye  # (B, L, L): [b, i, j] = query i may attend key j
        if self.cfg.kind == "transformer_decoder":
            allowed = allowed & torch.ones(L, L, dtype=torch.bool, device=x.device).tril()
        allowed = allowed[:, None]  # (B, 1, L, L), broadcast over heads
        for block in self.blocks:
            x = block(x, allowed)
        return self.ln_f(x)  # (B, L, v)

    def _recur(self, x: Tensor, valid: Tensor) -> Tensor:
        B, L, D = x.shape
        # Move valid tokens to the front (stable, so chronological), run packed, scatter back.
        order = torch.sort((~valid).to(torch.int8), dim=1, stable=True).indices  # (B, L)
        idx = order[..., None].expand(B, L, D)  # (B, L, v)
        lengths = valid.sum(1).clamp(min=1).cpu()  # packing needs lengths >= 1 on the CPU
        packed = pack_padded_sequence(x.gather(1, idx), lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.gru(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=L)  # (B, L, v)
        return torch.zeros_like(out).scatter(1, idx, out)  # (B, L, v) in the original slots

    def forward(self, fields: Tensor, labels: Tensor) -> Tensor:
        """Per-position hidden states.

        Args:
            fields: (B, L, M) int64 field codes, 0 at pads.
            labels: (B, L) int64 label tokens (LABEL_NEG/POS/MASK/PAD).

        Returns:
            (B, L, v) hidden states o_i; exactly 0 at pad positions.
        """
        valid = labels != LABEL_PAD  # (B, L)
        x = self._tokens(fields, labels)  # (B, L, v)
        h = self._recur(x, valid) if self.cfg.kind == "gru" else self._attend(x, valid)
        return h * valid[..., None].to(h.dtype)  # (B, L, v)

    def encode(self, fields: Tensor, labels: Tensor) -> Tensor:
        """The sequence representation o_T: the state at the most recent (last non-pad) position.

        For left-padded windows that is position L - 1; a fully padded window gives the zero vector.

        Args:
            fields: (B, L, M) int64 field codes.
            labels: (B, L) int64 label tokens.

        Returns:
            (B, v) sequence vectors.
        """
        h = self.forward(fields, labels)  # (B, L, v)
        valid = labels != LABEL_PAD
        if self.cfg.pooling == "mean":  # pads are exactly 0 in h, so the sum only counts valid states
            return h.sum(1) / valid.sum(1, keepdim=True).clamp(min=1).to(h.dtype)  # (B, v)
        pos = torch.arange(h.shape[1], device=h.device)
        last = (valid * pos).amax(dim=1)  # (B,) last valid index, 0 when none (then h is 0 there)
        return h[torch.arange(h.shape[0], device=h.device), last]  # (B, v)
