"""Thin nodes of the evaluation stage."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from liftrec.pipelines.params import build, task_of
from liftrec.pipelines.train.nodes import predictor_params
from liftrec.recsys.errors import DataError
from liftrec.recsys.schema import Schema
from liftrec.recsys.workflows.predict import (
    PredictorStageConfig,
    evaluate_predictions,
    load_predictor,
    predict_targets,
    report_markdown,
)
from liftrec.recsys.workflows.reference import popularity_reference, reference_markdown
from liftrec.reporting import training_curves_png


def score_targets(
    predictor: dict[str, Any],
    rows: pd.DataFrame,
    schema: dict[str, Any],
    retrieved: dict[str, np.ndarray],
    datastore: dict[str, np.ndarray],
    target_history: dict[str, np.ndarray],
    train: dict[str, Any],
    device: str,
) -> pd.DataFrame:
    """Score every validation and test target with the trained predictor."""
    cfg = build(PredictorStageConfig, predictor_params(train, device), "train")
    model = load_predictor(predictor, device)
    return predict_targets(model, rows, Schema.from_dict(schema), retrieved, datastore, target_history, cfg)


def compute_metrics(
    predictions: pd.DataFrame, dataset: str, datasets: dict[str, Any], task: str | None
) -> dict[str, Any]:
    """AUC / LogLoss (CTR) and HR / NDCG / MRR (top-N) per evaluated period."""
    return evaluate_predictions(predictions, task_of(dataset, datasets, task))


def score_reference(
    metrics: dict[str, Any],
    rows: pd.DataFrame,
    schema: dict[str, Any],
    dataset: str,
    datasets: dict[str, Any],
    task: str | None,
) -> dict[str, Any]:
    """The popularity floor on the run's valid / test targets (the report's reference point), under the
    key ``pop`` (so its metrics log to MLflow as ``pop.test.AUC``..., beside the run's own).

    Raises:
        DataError: when the floor did not score the same number of rows as the run's evaluation.
    """
    ref = popularity_reference(rows, Schema.from_dict(schema), task_of(dataset, datasets, task))
    for period in ("valid", "test"):
        if period in metrics and metrics[period]["rows"] != ref[period]["rows"]:
            raise DataError(
                f"reference: pop scored {ref[period]['rows']} {period} rows, "
                f"the run {metrics[period]['rows']}"
            )
    return {"pop": ref}


def write_report(
    metrics: dict[str, Any], reference: dict[str, Any], dataset: str, seed: int, train: dict[str, Any]
) -> str:
    """The Markdown report of the run, with the popularity floor as its reference point."""
    model = (train or {}).get("model", "lift")
    report = report_markdown(
        metrics, f"LIFT on {dataset}", {"dataset": dataset, "seed": seed, "train": train}
    )
    head, _, params = report.partition("## Parameters")
    return head + reference_markdown(metrics, reference["pop"], model) + "\n## Parameters" + params


def plot_training_curves(pretrain_metrics: dict[str, Any], train_metrics: dict[str, Any]) -> bytes:
    """PNG of the per-epoch loss and validation curves of pretraining and predictor training."""
    return training_curves_png(pretrain_metrics, train_metrics)
