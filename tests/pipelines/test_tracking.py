"""The MLflow hook logs every metric name the evaluation can produce (MLflow rejects ``@``)."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest

from liftrec.hooks import MlflowTrackingHook, mlflow_metric_name
from liftrec.recsys.schema import GROUP_ID, LABEL, PERIOD, TEST, VALID
from liftrec.recsys.workflows.predict import evaluate_predictions


def predictions(task: str, groups: int = 30, size: int = 5) -> pd.DataFrame:
    """Scored candidate groups of both evaluated periods, one positive per group."""
    rng = np.random.default_rng(0)
    n = groups * size
    label = np.zeros(n, dtype=np.int8)
    label[::size] = 1
    return pd.DataFrame(
        {
            GROUP_ID: np.repeat(np.arange(groups), size),
            PERIOD: np.where(np.arange(n) < n // 2, VALID, TEST),
            LABEL: label,
            "score": rng.random(n),
        }
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("test.HR@10", "test.HR_at_10"),
        ("valid.NDCG@5", "valid.NDCG_at_5"),
        ("test.AUC", "test.AUC"),
        ("curve.valid_auc", "curve.valid_auc"),
        ("lift vs row (NDCG@10)", "lift vs row _NDCG_at_10_"),
    ],
)
def test_metric_names_map_to_names_mlflow_accepts(name, expected):
    assert mlflow_metric_name(name) == expected


@pytest.mark.parametrize("task", ["ctr", "topn"])
def test_every_evaluation_metric_is_logged_through_the_hook(task, tmp_path):
    metrics = evaluate_predictions(predictions(task), task)
    assert task == "ctr" or "HR@10" in metrics["test"]
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.set_experiment("names")
    hook = MlflowTrackingHook()
    hook._mlflow = mlflow
    node = type("Node", (), {"name": "compute_metrics", "tags": {"evaluate"}})()
    with mlflow.start_run():
        hook.before_node_run(node, {})  # opens the stage's child run, as in a kedro run
        hook.after_node_run(node, {}, {"evaluation_metrics": metrics})
        hook._close("FINISHED")
    runs = mlflow.search_runs(experiment_names=["names"], output_format="list")
    (child,) = [r for r in runs if r.data.tags.get("stage") == "evaluate"]
    logged = child.data.metrics
    for period in ("valid", "test"):
        for name, value in metrics[period].items():
            assert logged[mlflow_metric_name(f"{period}.{name}")] == pytest.approx(value)
