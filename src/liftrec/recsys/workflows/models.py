"""Train and score any registered model on the same targets, splits, negatives and retrievals.

LIFT and every baseline go through :func:`train_model` (one fit loop, early stopping on the
validation AUC) and :func:`score_model`; what differs is only the batch groups a model reads
(:mod:`liftrec.recsys.models.batch`). :class:`ModelData` gathers the stage outputs a model may need;
the ones it does not read may be None (a DIN run needs no datastore).
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from liftrec.recsys.config import from_dict
from liftrec.recsys.data.sequences import gather_windows
from liftrec.recsys.errors import ConfigError, DataError
from liftrec.recsys.evaluation.metrics import auc
from liftrec.recsys.models.batch import HistoryFn, model_batches, model_inputs
from liftrec.recsys.models.registry import CONFIGS, MODELS, build_model
from liftrec.recsys.retrieval.datastore import Datastore
from liftrec.recsys.schema import (
    GROUP_ID,
    LABEL,
    PERIOD,
    PERIODS,
    RETRIEVAL,
    ROW_ID,
    TEST,
    TRAIN,
    VALID,
    Schema,
    target_mask,
)
from liftrec.recsys.training.device import move_batch, resolve_device
from liftrec.recsys.training.loop import TrainConfig, fit
from liftrec.recsys.training.seed import torch_seed

logger = logging.getLogger(__name__)


@dataclass
class ModelData:
    """The stage outputs a model can read.

    Attributes:
        rows: the canonical rows table (row_id == position).
        schema: the dataset's schema.
        windows: ``build_windows``' arrays (histories for the "hist" group), or None.
        length: L, the history length of the "hist" group.
        retrieved: the retrieval stage's {"target_ids", "row_ids", ...}, or None.
        datastore: the encoded contexts {"row_ids", "hist", "fut"}, or None.
        target_hist: the targets' own-history vectors {"row_ids", "hist"}, or None.
    """

    rows: pd.DataFrame
    schema: Schema
    windows: Mapping[str, np.ndarray] | None = None
    length: int = 20
    retrieved: Mapping[str, np.ndarray] | None = None
    datastore: Mapping[str, np.ndarray] | None = None
    target_hist: Mapping[str, np.ndarray] | None = None

    def __post_init__(self) -> None:
        self.X = self.rows[list(self.schema.fields)].to_numpy(np.int64)  # (N, M)
        self.y = self.rows[LABEL].to_numpy(np.float32)  # (N,)
        self.period = self.rows[PERIOD].to_numpy()
        self.store = None
        if self.datastore is not None:
            d = self.datastore
            self.store = Datastore(np.asarray(d["row_ids"]), d["hist"], d["fut"])

    def context(self) -> dict[str, Any]:
        """Builder context: what only the data knows (field sizes, v, L, user / item positions)."""
        fields = list(self.schema.fields)
        return {
            "cardinalities": tuple(int(c) for c in self.schema.cardinalities),
            "encoder_dim": self.store.dim if self.store is not None else 0,
            "seq_len": int(self.length),
            "item_field_index": fields.index(self.schema.item_field),
            "user_field_index": fields.index(self.schema.user_field),
        }


@dataclass
class Targets:
    """The targets of some periods with their aligned retrieval results and own-history vectors."""

    row_ids: np.ndarray  # (Q,)
    ret_ids: np.ndarray | None  # (Q, K)
    own_hist: np.ndarray | None  # (Q, v)


def select_targets(data: ModelData, periods: tuple[int, ...], k: int | None = None) -> Targets:
    """Targets of ``periods`` (retrieval order), their first ``k`` retrieved ids and own-history vectors.

    Raises:
        DataError: when the retrieval results and own histories cover different targets.
        ConfigError: when ``k`` exceeds the retrieved K.
    """
    if data.retrieved is None or RETRIEVAL in periods:
        # Retrieval-period rows are never scored, but a model reading no retrieved rows may train on
        # them (they have none: EntryConfig keeps retrieving models on the train period).
        usable = target_mask(data.rows) | (data.period == RETRIEVAL)
        ids = np.flatnonzero(np.isin(data.period, periods) & usable).astype(np.int64)
        return Targets(ids, None, None)
    tid = np.asarray(data.retrieved["target_ids"])
    keep = np.isin(data.period[tid], periods)
    ret = np.asarray(data.retrieved["row_ids"])[keep]
    if k is not None:
        if k > ret.shape[1]:
            raise ConfigError(f"parameter 'k': {k} exceeds the {ret.shape[1]} rows retrieved per target")
        ret = ret[:, :k]
    own = None
    if data.target_hist is not None:
        hist_ids = np.asarray(data.target_hist["row_ids"])
        pos = np.searchsorted(hist_ids, tid[keep])
        if not np.array_equal(hist_ids[np.minimum(pos, len(hist_ids) - 1)], tid[keep]):
            raise DataError(
                "retrieval results and target histories cover different targets: rerun the datastore stage"
            )
        own = np.asarray(data.target_hist["hist"])[pos]
    return Targets(tid[keep], ret, own)


def require_targets(data: ModelData, targets: Targets, period: str) -> None:
    """Raise a DataError naming the cause when a period has no scored target of both labels.

    Raises:
        DataError: the period is empty, or thinned to nothing by ``negatives.<task>_target_fraction``.
    """
    labels = data.y[targets.row_ids]
    if len(labels) and labels.min() < labels.max():
        return
    positives = int(np.count_nonzero((data.period == PERIODS[period]) & (data.y == 1)))
    raise DataError(
        f"the {period} period has {len(labels)} scored rows ({positives} positives in it): too few to "
        f"train or validate on; raise the scored share (negatives.ctr_target_fraction / "
        f"topn_target_fraction) or move the split boundaries (split.*)",
        column=PERIOD,
    )


def recent_history(data: ModelData) -> HistoryFn:
    """The last L pool rows of each target's user before the target (the windows' histories)."""
    if data.windows is None:
        raise ConfigError("a model reading 'hist' needs the windows")
    pool, lo, hi = (np.asarray(data.windows[k]) for k in ("pool_index", "hist_lo", "hist_hi"))

    def history(ids: np.ndarray) -> np.ndarray:
        return gather_windows(pool, lo[ids], hi[ids], data.length)  # (B, L)

    return history


def history_for(model_cls: type, cfg: Any, data: ModelData) -> HistoryFn | None:
    """The history selection a model asks for (``history_selection``: recent | category | bm25)."""
    if "hist" not in model_inputs(model_cls):
        return None
    mode = getattr(model_cls, "history_selection", "recent")
    if mode == "recent":
        return recent_history(data)
    from liftrec.recsys.workflows.history import selected_history  # SIM / UBR4CTR only

    return selected_history(mode, cfg, data)


def batches_for(
    name: str, cfg: Any, data: ModelData, t: Targets, batch_size: int, *, shuffle: bool, seed: int
):
    """The lazily built batches of model ``name`` over targets ``t``."""
    cls = MODELS[name]
    return model_batches(
        model_inputs(cls), t.row_ids, data.X, data.y, batch_size, shuffle=shuffle, seed=seed,
        ret_ids=t.ret_ids, own_hist=t.own_hist, history=history_for(cls, cfg, data), datastore=data.store,
        use_history=getattr(cfg, "use_history", True), use_future=getattr(cfg, "use_future", True),
    )  # fmt: skip


def model_config(name: str, params: Mapping[str, Any] | Any | None) -> Any:
    """The typed config of model ``name`` from a parameter dict (unknown keys are rejected)."""
    if name not in MODELS:
        raise ConfigError(f"parameter 'model': unknown model '{name}'; known models: {sorted(MODELS)}")
    cls = CONFIGS[name]
    return params if isinstance(params, cls) else from_dict(cls, dict(params or {}), path=name)


def score(model: torch.nn.Module, batches) -> np.ndarray:
    """Probabilities of every batch, in order, on the model's device."""
    device = next(model.parameters()).device
    model.eval()
    out = []
    with torch.no_grad():
        for b in batches:
            out.append(model.predict(move_batch(b, device)).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def train_model(
    name: str,
    params: Mapping[str, Any] | Any | None,
    training: TrainConfig,
    data: ModelData,
    seed: int,
    *,
    k: int | None = None,
    checkpoint_dir: str | Path | None = None,
    train_periods: tuple[int, ...] = (TRAIN,),
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train a registered model on the train period, early-stopping on the validation AUC.

    Args:
        name: registry name.
        params: the model's parameters (dict or its config).
        training: optimisation settings.
        data: the stage outputs.
        seed: initialisation, batch order and dropout.
        k: use only the first k retrieved rows (None: all).
        checkpoint_dir: resumable per-epoch checkpoints (removed after success).
        train_periods: the periods whose rows are training targets; (RETRIEVAL, TRAIN) trains a model
            that reads no retrieved rows on every row before the validation period (paper §5.1).

    Returns:
        The model package (name, config, context, state dict, k) and metrics (curves, best epoch,
        throughput).
    """
    cfg = model_config(name, params)
    context = data.context()
    with torch_seed(seed):
        model = build_model(name, cfg, **context, seed=seed)
    train, valid = select_targets(data, train_periods, k), select_targets(data, (VALID,), k)
    for period, t in (("train", train), ("valid", valid)):
        require_targets(data, t, period)
    bs = training.batch_size
    train_b = batches_for(name, cfg, data, train, bs, shuffle=True, seed=seed)
    valid_b = batches_for(name, cfg, data, valid, 4 * bs, shuffle=False, seed=seed)
    y_valid = data.y[valid.row_ids]
    t0 = time.perf_counter()
    result = fit(model, train_b, training, seed=seed, evaluate=lambda m: auc(y_valid, score(m, valid_b)),
                 checkpoint_dir=checkpoint_dir)  # fmt: skip
    if checkpoint_dir is not None:
        shutil.rmtree(checkpoint_dir, ignore_errors=True)
    package = {"model": name, "config": asdict(cfg) if is_dataclass(cfg) else dict(cfg), "k": k,
               "context": {**context, "cardinalities": list(context["cardinalities"])},
               "state_dict": result.state_dict}  # fmt: skip
    metrics = {
        "train_targets": len(train.row_ids), "valid_targets": len(valid.row_ids),
        "best_epoch": result.best_epoch, "valid_auc": result.best_score, "seconds": time.perf_counter() - t0,
        "samples_per_s": float(np.mean([h.get("samples_per_s", 0.0) for h in result.history])),
        "curve.train_loss": [h.get("train_loss") for h in result.history],
        "curve.valid_auc": [h.get("valid_score") for h in result.history],
    }  # fmt: skip
    return package, metrics


def load_model(package: Mapping[str, Any], device: str = "auto") -> torch.nn.Module:
    """Rebuild a trained model from :func:`train_model`'s package, in eval mode."""
    ctx = dict(package["context"])
    ctx["cardinalities"] = tuple(ctx["cardinalities"])
    model = build_model(package["model"], package["config"], **ctx)
    model.load_state_dict(package["state_dict"])
    return model.to(resolve_device(device)).eval()


def score_model(
    model: torch.nn.Module,
    package: Mapping[str, Any],
    data: ModelData,
    batch_size: int,
    periods: tuple[int, ...] = (VALID, TEST),
) -> pd.DataFrame:
    """Scores of every target of ``periods``: row_id, group_id, period, label, score."""
    name = package["model"]
    cfg = model_config(name, package["config"])
    t = select_targets(data, periods, package.get("k"))
    scores = score(model, batches_for(name, cfg, data, t, batch_size, shuffle=False, seed=0))
    sel = data.rows.iloc[t.row_ids]
    return pd.DataFrame({ROW_ID: t.row_ids, GROUP_ID: sel[GROUP_ID].to_numpy(),
                         PERIOD: sel[PERIOD].to_numpy(), LABEL: sel[LABEL].to_numpy(),
                         "score": scores})  # fmt: skip
