"""Stages 5-6: train the LIFT predictor on the train period, score valid/test, compute metrics."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch

from liftrec.recsys.evaluation.metrics import auc, logloss, topn_metrics
from liftrec.recsys.models.lift import LiftConfig
from liftrec.recsys.schema import GROUP_ID, LABEL, PERIOD, PERIODS, TEST, VALID, Schema
from liftrec.recsys.training.loop import TrainConfig
from liftrec.recsys.workflows.models import ModelData, load_model, score_model, train_model

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


def _data(rows, schema, retrieved, datastore, target_hist) -> ModelData:
    return ModelData(rows, schema, retrieved=retrieved, datastore=datastore, target_hist=target_hist)


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
    data = _data(rows, schema, retrieved, datastore, target_hist)
    return train_model(cfg.model, cfg.lift, cfg.training, data, seed, checkpoint_dir=checkpoint_dir)


def load_predictor(package: dict[str, Any], device: str = "auto") -> torch.nn.Module:
    """Rebuild a trained predictor from :func:`train_predictor`'s package, in eval mode."""
    return load_model(package, device)


def predict_targets(
    model: torch.nn.Module,
    rows: pd.DataFrame,
    schema: Schema,
    retrieved: dict[str, np.ndarray],
    datastore: dict[str, np.ndarray],
    target_hist: dict[str, np.ndarray],
    cfg: PredictorStageConfig,
    periods: tuple[int, ...] = (VALID, TEST),
    package: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Scores of every target of ``periods``: row_id, group_id, period, label, score."""
    package = package or {"model": cfg.model, "config": asdict(cfg.lift)}
    data = _data(rows, schema, retrieved, datastore, target_hist)
    return score_model(model, package, data, 4 * cfg.training.batch_size, periods)


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
                  "|" + "---|" * len(keys),
                  "| " + " | ".join(f"{m[k]:.4f}" for k in keys) + " |", ""]  # fmt: skip
    lines += ["## Parameters", ""] + [f"- `{k}`: `{v}`" for k, v in params.items()] + [""]
    return "\n".join(lines)
