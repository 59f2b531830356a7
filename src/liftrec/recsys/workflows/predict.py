"""Stages 5-6: train the LIFT predictor on the train period, score valid/test, compute metrics."""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch

from liftrec.recsys.evaluation.metrics import auc, logloss, topn_metrics
from liftrec.recsys.models.lift import LiftConfig
from liftrec.recsys.models.lift_batch import lift_batches
from liftrec.recsys.models.registry import build_model
from liftrec.recsys.retrieval.datastore import Datastore
from liftrec.recsys.schema import GROUP_ID, LABEL, PERIOD, PERIODS, ROW_ID, TEST, TRAIN, VALID, Schema
from liftrec.recsys.training.device import move_batch, resolve_device
from liftrec.recsys.training.loop import TrainConfig, fit

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PredictorStageConfig:
    """Parameters of the predictor stage (``train.*``).

    Attributes:
        model: registry name of the predictor.
        lift: LIFT's architecture and ablation switches (use_history / use_future / use_own_history).
        training: optimisation settings; early stopping on the validation AUC.
    """

    model: str = "lift"
    lift: LiftConfig = field(default_factory=LiftConfig)
    training: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=5, batch_size=256, patience=1))


@dataclass
class TargetSet:
    """Everything needed to build LIFT batches for the targets of some periods."""

    row_ids: np.ndarray  # (Q,)
    ret_ids: np.ndarray  # (Q, K)
    own_hist: np.ndarray  # (Q, v)


def target_set(
    rows: pd.DataFrame, retrieved: dict[str, np.ndarray], target_hist: dict[str, np.ndarray], periods: tuple[int, ...]
) -> TargetSet:
    """Select the targets of ``periods`` and align their retrieval results and own-history vectors."""
    period = rows[PERIOD].to_numpy()
    tid = np.asarray(retrieved["target_ids"])
    keep = np.isin(period[tid], periods)
    hist_ids = np.asarray(target_hist["row_ids"])
    pos = np.searchsorted(hist_ids, tid[keep])
    if not np.array_equal(hist_ids[np.minimum(pos, len(hist_ids) - 1)], tid[keep]):
        raise ValueError("retrieval results and target histories cover different targets: rerun the datastore stage")
    return TargetSet(tid[keep], np.asarray(retrieved["row_ids"])[keep], np.asarray(target_hist["hist"])[pos])


def _batches(ts: TargetSet, X, y, store: Datastore, cfg: PredictorStageConfig, bs: int, shuffle: bool, seed: int):
    return lift_batches(ts.row_ids, ts.ret_ids, X, y, store, ts.own_hist, bs, shuffle=shuffle, seed=seed,
                        use_history=cfg.lift.use_history, use_future=cfg.lift.use_future)  # fmt: skip


def score(model: torch.nn.Module, batches) -> np.ndarray:
    """Probabilities of every batch, in order, on the model's device."""
    device = next(model.parameters()).device
    model.eval()
    out = []
    with torch.no_grad():
        for b in batches:
            out.append(model.predict(move_batch(b, device)).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def train_predictor(
    rows: pd.DataFrame,
    schema: Schema,
    retrieved: dict[str, np.ndarray],
    datastore: dict[str, np.ndarray],
    target_hist: dict[str, np.ndarray],
    cfg: PredictorStageConfig,
    seed: int,
    checkpoint_dir: str | Path | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train the predictor on the train period, early-stopping on the validation AUC.

    Returns:
        The model package (state dict, config, context) and metrics (curves, best epoch, throughput).
    """
    X = rows[list(schema.fields)].to_numpy(np.int64)
    y = rows[LABEL].to_numpy(np.float32)
    store = Datastore(np.asarray(datastore["row_ids"]), datastore["hist"], datastore["fut"])
    context = {"cardinalities": tuple(schema.cardinalities), "encoder_dim": store.dim}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model(cfg.model, cfg.lift, **context)
    train = target_set(rows, retrieved, target_hist, (TRAIN,))
    valid = target_set(rows, retrieved, target_hist, (VALID,))
    tc = cfg.training
    train_b = _batches(train, X, y, store, cfg, tc.batch_size, True, seed)
    valid_b = _batches(valid, X, y, store, cfg, 4 * tc.batch_size, False, seed)
    y_valid = y[valid.row_ids]

    def valid_auc(m: torch.nn.Module) -> float:
        return auc(y_valid, score(m, valid_b))

    t0 = time.perf_counter()
    result = fit(model, train_b, tc, seed=seed, evaluate=valid_auc, checkpoint_dir=checkpoint_dir)
    if checkpoint_dir is not None:
        shutil.rmtree(checkpoint_dir, ignore_errors=True)
    package = {
        "model": cfg.model,
        "config": asdict(cfg.lift),
        "context": {"cardinalities": list(context["cardinalities"]), "encoder_dim": context["encoder_dim"]},
        "state_dict": result.state_dict,
    }
    metrics = {
        "train_targets": len(train.row_ids), "valid_targets": len(valid.row_ids), "best_epoch": result.best_epoch,
        "valid_auc": result.best_score, "seconds": time.perf_counter() - t0,
        "samples_per_s": float(np.mean([h.get("samples_per_s", 0.0) for h in result.history])),
        "curve.train_loss": [h.get("train_loss") for h in result.history],
        "curve.valid_auc": [h.get("valid_score") for h in result.history],
    }  # fmt: skip
    return package, metrics


def load_predictor(package: dict[str, Any], device: str = "auto") -> torch.nn.Module:
    """Rebuild a trained predictor from :func:`train_predictor`'s package, in eval mode."""
    ctx = package["context"]
    model = build_model(package["model"], package["config"], cardinalities=tuple(ctx["cardinalities"]),
                        encoder_dim=int(ctx["encoder_dim"]))  # fmt: skip
    model.load_state_dict(package["state_dict"])
    return model.to(resolve_device(device)).eval()


def predict_targets(
    model: torch.nn.Module,
    rows: pd.DataFrame,
    schema: Schema,
    retrieved: dict[str, np.ndarray],
    datastore: dict[str, np.ndarray],
    target_hist: dict[str, np.ndarray],
    cfg: PredictorStageConfig,
    periods: tuple[int, ...] = (VALID, TEST),
) -> pd.DataFrame:
    """Scores of every target of ``periods``: row_id, group_id, period, label, score."""
    X = rows[list(schema.fields)].to_numpy(np.int64)
    y = rows[LABEL].to_numpy(np.float32)
    store = Datastore(np.asarray(datastore["row_ids"]), datastore["hist"], datastore["fut"])
    ts = target_set(rows, retrieved, target_hist, periods)
    scores = score(model, _batches(ts, X, y, store, cfg, 4 * cfg.training.batch_size, False, 0))
    sel = rows.iloc[ts.row_ids]
    return pd.DataFrame({ROW_ID: ts.row_ids, GROUP_ID: sel[GROUP_ID].to_numpy(), PERIOD: sel[PERIOD].to_numpy(),
                         LABEL: sel[LABEL].to_numpy(), "score": scores})  # fmt: skip


def evaluate_predictions(predictions: pd.DataFrame, task: Literal["ctr", "topn"]) -> dict[str, Any]:
    """Metrics per evaluated period: AUC and LogLoss (both tasks), plus HR/NDCG/MRR for top-N."""
    out: dict[str, Any] = {"task": task}
    names = {v: k for k, v in PERIODS.items()}
    for code in sorted(predictions[PERIOD].unique()):
        p = predictions[predictions[PERIOD] == code]
        lab, sc = p[LABEL].to_numpy(), p["score"].to_numpy()
        m = {"AUC": auc(lab, sc), "LogLoss": logloss(lab, sc), "rows": len(p)}
        if task == "topn":
            m.update(topn_metrics(p[GROUP_ID].to_numpy(), lab, sc))
        out[names[int(code)]] = m
    return out


def report_markdown(metrics: dict[str, Any], title: str, params: dict[str, Any]) -> str:
    """A Markdown table of the test (and validation) metrics, with the run's key parameters."""
    lines = [f"# {title}", ""]
    for period in ("test", "valid"):
        if period not in metrics:
            continue
        m = metrics[period]
        keys = [k for k in m if k != "rows"]
        lines += [f"## {period} ({m['rows']} rows)", "", "| " + " | ".join(keys) + " |",
                  "|" + "---|" * len(keys), "| " + " | ".join(f"{m[k]:.4f}" for k in keys) + " |", ""]  # fmt: skip
    lines += ["## Parameters", ""] + [f"- `{k}`: `{v}`" for k, v in params.items()] + [""]
    return "\n".join(lines)
