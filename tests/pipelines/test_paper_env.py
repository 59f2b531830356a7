"""``kedro run --env=paper``: the paper's LIFT as a Kedro environment over ``base``.

Every difference from base is one documented switch; the default pipeline and the experiments run
in it (at the test environment's sizes, passed as runtime parameters).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow
import pytest
import yaml
from kedro.config import OmegaConfigLoader

from liftrec.pipelines.params import validate_parameters
from liftrec.recsys.config import flatten
from tests.pipelines.conftest import REPO, run_session

# The leaves where the paper environment differs from base (docs/choices.md documents each).
PAPER_SWITCHES = {
    "pretrain.next_field": None,
    "pretrain.encode_user_fields": True,
    "retrieval.query_fields": "all",
    "train.lift.use_key_labels": False,
    "train.lift.use_flat_embeddings": False,
}
NO_RETRIEVAL = ("gbdt", "deepfm", "din", "dien", "bert4rec", "fpmc", "gru4rec", "narm", "sasrec", "transrec")
LIFT_ROWS = ("lift", "lift_no_pretrain", "lift_history_only", "lift_future_only", "lift_no_context")


def parameters(env: str) -> dict[str, Any]:
    loader = OmegaConfigLoader(str(REPO / "conf"), base_env="base", default_run_env=env,
                               merge_strategy={"parameters": "soft"})  # fmt: skip
    return loader["parameters"]


def test_paper_environment_differs_from_base_by_the_documented_switches_only():
    base, paper = flatten(parameters("local")), flatten(parameters("paper"))
    changed = {k: v for k, v in paper.items() if base.get(k, "<absent>") != v}
    run_wide = {k: v for k, v in changed.items() if not k.startswith("experiment_models.")}
    assert run_wide == PAPER_SWITCHES
    entries = {k: v for k, v in changed.items() if k.startswith("experiment_models.")}
    expected = {f"experiment_models.{e}.train_periods": ["retrieval", "train"] for e in NO_RETRIEVAL}
    for e in LIFT_ROWS:
        expected[f"experiment_models.{e}.params.use_key_labels"] = False
        expected[f"experiment_models.{e}.params.use_flat_embeddings"] = False
    assert entries == expected
    choices = (REPO / "docs" / "choices.md").read_text()
    for key in [*PAPER_SWITCHES, "experiment_models.<entry>.train_periods"]:
        assert f"`{key}`" in choices, key
    validate_parameters(parameters("paper"))  # the experiments' entries included


def _test_sizes() -> dict[str, Any]:
    return yaml.safe_load((REPO / "conf" / "test" / "parameters.yml").read_text())


@pytest.mark.slow
def test_default_pipeline_runs_in_the_paper_environment(project: Path):
    run_session(project, env="paper", params=_test_sizes())
    metrics = json.loads((project / "data" / "08_reporting" / "synthetic" / "metrics.json").read_text())
    assert 0.0 <= metrics["test"]["AUC"] <= 1.0
    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["liftrec"], output_format="list")
    stage = {r.data.tags.get("stage"): r.data.params for r in runs if "stage" in r.data.tags}
    assert stage["retrieval"]["retrieval.query_fields"] == "all"
    assert stage["train"]["train.lift.use_key_labels"] == "False"
    assert stage["pretrain"]["pretrain.encode_user_fields"] == "True"
    retrieval = json.loads(
        (project / "data" / "08_reporting" / "synthetic" / "retrieval_metrics.json").read_text()
    )
    assert retrieval["targets"] > 0
