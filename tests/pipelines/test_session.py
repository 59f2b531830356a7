"""Tier (c): whole pipelines through a KedroSession on the test environment (tiny synthetic data)."""

from __future__ import annotations

import json

import mlflow
import pytest

from liftrec.hooks import cli_params, run_name
from tests.pipelines.conftest import outputs, run_session

STAGES = ["data_processing", "pretrain", "datastore", "retrieval", "train", "evaluate"]


@pytest.mark.slow
def test_default_run_writes_the_report_and_one_mlflow_run_with_a_child_per_stage(project):
    run_session(project)
    report = project / "data" / "08_reporting" / "synthetic"
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["task"] == "ctr" and 0.0 <= metrics["test"]["AUC"] <= 1.0 and metrics["test"]["rows"] > 0
    assert "| AUC | LogLoss |" in (report / "report.md").read_text()

    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["liftrec"], output_format="list")
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = {r.data.tags["stage"]: r for r in runs if "mlflow.parentRunId" in r.data.tags}
    assert len(parents) == 1 and parents[0].data.tags["dataset"] == "synthetic"
    assert parents[0].data.tags["mlflow.runName"] == "__default__ | synthetic | seed=42"
    assert sorted(children) == sorted(STAGES)
    assert all(c.data.tags["mlflow.runName"] == f"{s} | synthetic" for s, c in children.items())
    assert all(c.data.tags["mlflow.parentRunId"] == parents[0].info.run_id for c in children.values())
    assert children["data_processing"].data.metrics["rows"] > 0
    assert "holdout_masked_auc" in children["pretrain"].data.metrics
    assert children["pretrain"].data.params["pretrain.mask_ratio"] == "0.4"
    assert "test.AUC" in children["evaluate"].data.metrics
    assert any(k.startswith("seconds.") for k in children["train"].data.metrics)
    # files saved by the evaluate stage are artifacts of its child run (logged once Kedro wrote them)
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(children["evaluate"].info.run_id)}
    assert {"report.md", "training_curves.png"} <= artifacts
    assert (report / "training_curves.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.slow
def test_pretrain_pipeline_runs_from_a_fresh_project(project):
    run_session(project, "pretrain")
    written = outputs(project)
    assert "06_models/synthetic/encoder.pt" in written
    assert not any(p.startswith("08_reporting/synthetic/metrics") for p in written)


def test_outputs_are_kept_per_dataset(project, shared_data):
    run_session(project, "data_processing", params={"dataset": "ml-1m", "raw_dir": str(shared_data / "ml-1m"),
                                                    "split": {"mode": "quantiles"}})  # fmt: skip
    written = outputs(project)
    assert "04_feature/ml-1m/rows.parquet" in written
    assert not any("/synthetic/" in p for p in written)


def test_run_names_carry_the_command_line_params(project):
    run_session(
        project, "data_processing", params={"seed": 7, "split": {"mode": "quantiles"}, "cache": False}
    )
    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["liftrec"], output_format="list")
    names = {r.data.tags["mlflow.runName"]: r for r in runs}
    parent = "data_processing | synthetic | seed=7 | split.mode=quantiles, cache=false"
    assert sorted(names) == sorted([parent, "data_processing | synthetic"])
    assert names[parent].data.tags["cli_params"] == "split.mode=quantiles, cache=false"


def test_run_name_lists_given_params_as_typed_and_stays_short():
    given = cli_params({"dataset": "ml-1m", "seed": 3, "train": {"training": {"lr": 0.003}},
                        "pretrain": {"enabled": False}, "raw_dir": None})  # fmt: skip
    assert given == "train.training.lr=0.003, pretrain.enabled=false, raw_dir=null"
    assert run_name(["__default__"], "ml-1m", 3, given) == f"__default__ | ml-1m | seed=3 | {given}"
    assert run_name(["train", "evaluate"], "synthetic", 42) == "train+evaluate | synthetic | seed=42"
    assert cli_params(None) == "" and cli_params({}) == ""
    long = run_name(["__default__"], "synthetic", 42, cli_params({f"p{i}": "x" * 20 for i in range(20)}))
    assert len(long) == 250 and long.endswith("…")
