"""Stage 2: pretrain the encoder with the mask-behaviour loss on retrieval-period subsequences."""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from liftrec.recsys.config import check, from_dict
from liftrec.recsys.data.sequences import gather_windows
from liftrec.recsys.errors import ConfigError
from liftrec.recsys.evaluation.metrics import auc
from liftrec.recsys.models.encoder import EncoderConfig, SequenceEncoder
from liftrec.recsys.models.pretrainer import MaskBehaviourModel, PretrainConfig, predict_masked
from liftrec.recsys.schema import LABEL, PERIOD, RETRIEVAL, USER_ID, Schema, category_field
from liftrec.recsys.training.batching import ArrayBatches, window_tokens
from liftrec.recsys.training.loop import TrainConfig, fit
from liftrec.recsys.training.seed import derive_seed, torch_seed

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PretrainStageConfig:
    """Parameters of the pretraining stage (``pretrain.*``).

    Attributes:
        enabled: False gives the paper's "LIFT w/o pretraining" ablation: a seeded random encoder, frozen.
        mask_ratio: r, the fraction of labels replaced by [MSK] in each subsequence, in (0, 1).
        head_hidden: hidden width of the MLP predicting masked labels.
        holdout_fraction: share of users whose subsequences are held out for early stopping and the
            masked-label AUC.
        encoder: the encoder architecture.
        training: optimisation settings.
        next_field: a field whose next value every encoder state also predicts (an auxiliary
            cross-entropy, not in the paper; see docs/choices.md): a field name, "auto" (the category
            field, :func:`~liftrec.recsys.schema.category_field`) or null (the paper's loss only).
        next_weight: weight of that auxiliary loss.
        next_after_window: the last state o_T of a subsequence also predicts the interaction right
            after it (when that is still in the user's retrieval period): o_T is what the datastore
            stores, and without this only the states before it are supervised by the auxiliary loss.
        encode_user_fields: False (default) gives the encoder the user-side fields
            (``schema.user_fields``) as the padding code: they are constant within a window, so they
            carry no sequence information and only let the encoder memorise users (docs/choices.md).
    """

    enabled: bool = True
    mask_ratio: float = 0.6
    head_hidden: int = 64
    holdout_fraction: float = 0.1
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    training: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=10, batch_size=128, patience=2))
    next_field: str | None = None
    next_weight: float = 1.0
    next_after_window: bool = True
    encode_user_fields: bool = False

    def __post_init__(self) -> None:
        check(0.0 < self.mask_ratio < 1.0, "pretrain.mask_ratio", f"must be in (0, 1), got {self.mask_ratio}")
        check(0.0 < self.holdout_fraction < 1.0, "pretrain.holdout_fraction", "must be in (0, 1)")
        check(not self.encoder.blank_fields, "pretrain.encoder.blank_fields",
              "is derived from the schema by pretrain.encode_user_fields; leave it unset")  # fmt: skip

    def encoder_config(self, schema: Schema) -> EncoderConfig:
        """The encoder's config for ``schema``: the user-side fields blanked unless ``encode_user_fields``."""
        if self.encode_user_fields:
            return self.encoder
        fields = list(schema.fields)
        return replace(self.encoder, blank_fields=tuple(fields.index(f) for f in schema.user_fields))

    def model_config(self, schema: Schema) -> PretrainConfig:
        """The model's config; ``next_field`` resolved to its index in ``schema``."""
        nf = None
        if self.next_field is not None:
            try:
                nf = list(schema.fields).index(category_field(schema, self.next_field))
            except ConfigError as e:
                raise ConfigError(f"parameter 'pretrain.next_field': {e}") from None
        return PretrainConfig(
            mask_ratio=self.mask_ratio,
            head_hidden=self.head_hidden,
            encoder=self.encoder_config(schema),
            next_field=nf,
            next_weight=self.next_weight,
        )


class WindowTokens:
    """``ArrayBatches`` transform: {"lo", "hi"} offset ranges -> {"fields", "labels"} token arrays.

    With ``next_after`` (a field index) and a "next_row" array (:func:`row_after_window`), it also
    gives "next_after" (B,): that field's code in the row right after each window, -1 where none.
    """

    def __init__(
        self,
        X: np.ndarray,
        y: np.ndarray,
        pool_index: np.ndarray,
        length: int,
        next_after: int | None = None,
    ) -> None:
        self.X, self.y, self.pool_index, self.length = X, y, pool_index, length
        self.next_after = next_after

    def __call__(self, part: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        ids = gather_windows(self.pool_index, part["lo"], part["hi"], self.length)  # (B, L)
        fields, labels = window_tokens(ids, self.X, self.y)  # (B, L, M), (B, L)
        out = {"fields": fields, "labels": labels}
        if self.next_after is not None:
            nxt = part["next_row"]
            out["next_after"] = np.where(nxt >= 0, self.X[np.maximum(nxt, 0), self.next_after], -1)
        return out


def row_after_window(pool_index: np.ndarray, hi: np.ndarray, rows: pd.DataFrame) -> np.ndarray:
    """Per window ending at ``hi``, the pool row right after it when that row is the same user's and
    still in the retrieval period (pretraining never sees a later row), else -1."""
    pool = np.asarray(pool_index)
    user, period = rows[USER_ID].to_numpy(), rows[PERIOD].to_numpy()
    nxt = pool[np.minimum(hi, len(pool) - 1)]
    last = pool[np.maximum(hi - 1, 0)]
    ok = (hi < len(pool)) & (hi > 0) & (user[nxt] == user[last]) & (period[nxt] == RETRIEVAL)
    return np.where(ok, nxt, -1).astype(np.int64)


def encoder_package(
    encoder: SequenceEncoder, cfg: EncoderConfig, schema: Schema, pretrained: bool
) -> dict[str, Any]:
    """What the catalog stores: the state dict plus what rebuilds the module."""
    return {
        "state_dict": {k: v.detach().cpu() for k, v in encoder.state_dict().items()},
        "config": asdict(cfg),
        "cardinalities": list(schema.cardinalities),
        "pretrained": pretrained,
    }


def load_encoder(package: dict[str, Any]) -> SequenceEncoder:
    """Rebuild a frozen encoder (eval mode, no gradients) from :func:`encoder_package`'s output."""
    cfg = from_dict(EncoderConfig, package["config"], "pretrain.encoder")
    enc = SequenceEncoder(cfg, package["cardinalities"])
    enc.load_state_dict(package["state_dict"])
    enc.eval()
    for p in enc.parameters():
        p.requires_grad_(False)
    return enc


def seeded_encoder(cfg: EncoderConfig, schema: Schema, seed: int) -> SequenceEncoder:
    """A freshly initialised encoder, deterministic by ``seed``, without touching global RNG state."""
    with torch_seed(seed):
        return SequenceEncoder(cfg, schema.cardinalities)


def pretrain_encoder(
    rows: pd.DataFrame,
    windows: dict[str, np.ndarray],
    schema: Schema,
    cfg: PretrainStageConfig,
    length: int,
    seed: int,
    checkpoint_dir: str | Path | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Pretrain (or, when disabled, randomly initialise) the encoder.

    Args:
        rows: canonical rows table.
        windows: ``build_windows`` output (``seq_lo``/``seq_hi`` are the subsequences).
        schema: field names and cardinalities.
        cfg: stage parameters.
        length: L.
        seed: seeds the hold-out split, initialisation, masking and shuffling.
        checkpoint_dir: per-epoch checkpoints for resuming an interrupted run; removed on success.

    Returns:
        The encoder package and metrics (loss curve, held-out masked-label AUC per epoch, timings).
    """
    encoder = seeded_encoder(cfg.encoder_config(schema), schema, seed)
    if not cfg.enabled:
        logger.info("pretraining disabled: random frozen encoder (seed %d)", seed)
        return encoder_package(encoder, encoder.cfg, schema, False), {"pretrained": 0}
    X = rows[list(schema.fields)].to_numpy(np.int64)
    y = rows[LABEL].to_numpy(np.int64)
    pool, lo, hi = windows["pool_index"], np.asarray(windows["seq_lo"]), np.asarray(windows["seq_hi"])
    users = rows[USER_ID].to_numpy()[np.asarray(pool)[lo]]
    uniq = np.unique(users)
    rng = np.random.default_rng(seed)
    held = np.isin(
        users, rng.choice(uniq, max(1, int(round(cfg.holdout_fraction * len(uniq)))), replace=False)
    )
    if held.all() or not held.any():
        raise ValueError(f"pretraining needs subsequences of at least 2 users, got {len(uniq)}")
    model_cfg = cfg.model_config(schema)
    after = model_cfg.next_field if cfg.next_after_window else None
    tokens = WindowTokens(X, y, pool, length, next_after=after)
    nxt = row_after_window(pool, hi, rows)
    tc = cfg.training
    train = ArrayBatches({"lo": lo[~held], "hi": hi[~held], "next_row": nxt[~held]}, tc.batch_size,
                         shuffle=True, seed=seed, transform=tokens)  # fmt: skip
    valid = ArrayBatches({"lo": lo[held], "hi": hi[held], "next_row": nxt[held]}, 4 * tc.batch_size,
                         shuffle=False, seed=seed, transform=tokens)  # fmt: skip
    with torch_seed(derive_seed(seed, 1)):  # the heads too: an unseeded head made reruns differ
        model = MaskBehaviourModel(encoder, model_cfg, seed=seed)

    def masked_auc(m: torch.nn.Module) -> float:
        probs, targets = predict_masked(m, valid)
        return auc(targets, probs)

    t0 = time.perf_counter()
    result = fit(model, train, tc, seed=seed, evaluate=masked_auc, checkpoint_dir=checkpoint_dir)
    model.load_state_dict(result.state_dict)
    metrics = {
        "pretrained": 1,
        "sequences.train": int((~held).sum()),
        "sequences.holdout": int(held.sum()),
        "best_epoch": result.best_epoch,
        "holdout_masked_auc": result.best_score,
        "curve.train_loss": [h.get("train_loss") for h in result.history],
        "curve.holdout_masked_auc": [h.get("valid_score") for h in result.history],
        "samples_per_s": float(np.mean([h.get("samples_per_s", 0.0) for h in result.history])),
        "seconds": time.perf_counter() - t0,
    }
    if checkpoint_dir is not None:
        shutil.rmtree(checkpoint_dir, ignore_errors=True)
    encoder = model.encoder.cpu()
    return encoder_package(encoder, encoder.cfg, schema, True), metrics
