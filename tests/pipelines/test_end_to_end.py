"""Tier (c): the default pipeline, as users run it, for every task x dataset the project supports.

Each case is ``kedro run --env=test --params=...`` through a real KedroSession and MLflow store; it
must write metrics.json with the task's metrics and log them to MLflow. The real samples come from
``../shared/data`` (skipped on a user's fresh clone); alipay has no public sample there.
"""

from __future__ import annotations

import json
from typing import Any

import mlflow
import pytest

from liftrec.hooks import mlflow_metric_name
from tests.pipelines.conftest import SHARED_DATA, run_session

CTR = {"AUC", "LogLoss", "rows"}
TOPN = CTR | {"HR@1", "HR@5", "HR@10", "NDCG@5", "NDCG@10", "MRR"}

# (dataset, raw folder under ../shared/data or None, extra parameters, expected task)
CASES: list[tuple[str, str | None, dict[str, Any], str]] = [
    ("synthetic", None, {}, "ctr"),
    ("synthetic", None, {"task": "topn"}, "topn"),
    ("ml-100k", "ml-100k", {}, "topn"),
    ("ml-100k", "ml-100k", {"task": "ctr"}, "ctr"),
    ("taobao", "taobao/tail", {}, "ctr"),
    ("tmall", "tmall", {}, "ctr"),
    # The samples cover a few users and days: the paper's time points leave periods empty there.
    ("ml-1m", "ml-1m", {"split": {"mode": "quantiles"}}, "topn"),
    (
        "lastfm-1k",
        "lastfm-1k",
        {"split": {"mode": "quantiles"}, "negatives": {"topn_target_fraction": 1.0}},
        "topn",
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize(("dataset", "raw", "extra", "task"), CASES, ids=[f"{c[0]}-{c[3]}" for c in CASES])
def test_default_pipeline_writes_the_tasks_metrics(project, dataset, raw, extra, task):
    params: dict[str, Any] = {"dataset": dataset, **extra}
    if raw is not None:
        if not (SHARED_DATA / raw).is_dir():
            pytest.skip("../shared/data is absent (a user's fresh clone)")
        params["raw_dir"] = str(SHARED_DATA / raw)
    run_session(project, params=params)

    report = project / "data" / "08_reporting" / dataset
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["task"] == task
    expected = TOPN if task == "topn" else CTR
    for period in ("valid", "test"):
        assert set(metrics[period]) == expected, period
        assert metrics[period]["rows"] > 0
        assert all(0.0 <= metrics[period][k] <= 1.0 for k in expected - {"rows", "LogLoss"})
    assert (report / "report.md").is_file()

    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["liftrec"], output_format="list")
    evaluate = [r for r in runs if r.data.tags.get("stage") == "evaluate"]
    assert len(evaluate) == 1
    logged = evaluate[0].data.metrics
    reference = json.loads((report / "reference_metrics.json").read_text())["pop"]
    for period in ("valid", "test"):
        for name in expected:
            key = mlflow_metric_name(f"{period}.{name}")
            assert logged[key] == pytest.approx(metrics[period][name]), key
            pop = mlflow_metric_name(f"pop.{period}.{name}")  # the floor, logged beside, not over it
            assert logged[pop] == pytest.approx(reference[period][name]), pop
