"""The experiments pipeline: its parameters fail before any node runs; one run on the test environment
writes every table, sweep, figure and per-entry run; a second run reuses everything."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from liftrec import caching
from liftrec.pipelines.experiments.entries import ABLATIONS, entries
from liftrec.pipelines.experiments.pipeline import SWEEPS
from liftrec.pipelines.params import deep_merge, validate_parameters
from liftrec.recsys.errors import ConfigError
from tests.pipelines.conftest import REPO, outputs, run_session

TOPN_ONLY = ("fpmc", "gru4rec", "narm", "sasrec", "transrec")
EXP = Path("data/08_reporting/synthetic/experiments")


@pytest.fixture(scope="module")
def test_params() -> dict[str, Any]:
    from kedro.config import OmegaConfigLoader

    return OmegaConfigLoader(
        str(REPO / "conf"), base_env="base", default_run_env="test", merge_strategy={"parameters": "soft"}
    )["parameters"]


# ------------------------------------------------------------------ parameters, no session --

# (runtime parameters, text the error must contain)
BAD = [
    (
        {"experiment_models": {"din": {"params": {"field_dimm": 4}}}},
        "experiment_models.din.params.field_dimm",
    ),
    (
        {"experiment_models": {"gbdt": {"params": {"num_leavs": 4}}}},
        "experiment_models.gbdt.params.num_leavs",
    ),
    (
        {"experiment_models": {"lift_history_only": {"params": {"use_futur": False}}}},
        "experiment_models.lift_history_only.params.use_futur",
    ),
    ({"experiment_models": {"din": {"params": {"mlp": "big"}}}}, "experiment_models.din.params.mlp"),
    ({"experiment_models": {"din": {"paramz": {}}}}, "experiment_models.din.paramz"),
    ({"experiment_models": {"din": {"model": "dinn"}}}, "unknown model 'dinn'"),
    (
        {"experiment_models": {"din": {"model": "deepfm"}}},
        "experiment_models.din.model': the entry 'din' trains 'din'",
    ),
    (
        {"experiment_models": {"random_retrieval": {"model": "lift"}}},
        "experiment_models.random_retrieval.model",
    ),
    ({"experiment_models": {"din": {"tasks": ["ctr", "ranking"]}}}, "experiment_models.din.tasks"),
    ({"experiment_models": {"din": {"training": {"lrr": 0.1}}}}, "experiment_models.din.training.lrr"),
    ({"experiment_models": {"din": {"training": {"epochs": 0}}}}, "experiment_models.din.training.epochs"),
    (
        {"experiment_models": {"ubr4ctr": {"params": {"query_fields": ["item", "colour"]}}}},
        "experiment_models.ubr4ctr.params.query_fields",
    ),
    ({"experiment_models": {"dinn": {"model": "din"}}}, "experiment_models.dinn': not a table entry"),
    ({"experiment_models": {"din": None}}, "experiment_models.din' is missing"),
    ({"experiment_models": "all"}, "experiment_models"),
    ({"experiments": {"seedz": [0]}}, "experiments.seedz"),
    ({"experiments": {"seeds": []}}, "experiments.seeds"),
    ({"experiments": {"training": {"lr": -1.0}}}, "experiments.training.lr"),
    ({"experiments": {"mask_ratios": [0.5, 1.5]}}, "experiments.mask_ratios"),
    ({"experiments": {"encoders": ["lstm"]}}, "experiments.encoders"),
    ({"experiments": {"bootstrap": 5}}, "experiments.bootstrap"),
    ({"experiments": {"inference_models": ["lift", "xgboost"]}}, "experiments.inference_models"),
    ({"experiments": {"k_values": [1, 50]}}, "experiments.k_values"),
    ({"retrieval": {"k": 3}}, "experiments.k_values"),
]


@pytest.mark.parametrize(("override", "needle"), BAD, ids=[b[1] for b in BAD])
def test_bad_experiment_parameter_is_named(test_params, override, needle):
    with pytest.raises(ConfigError, match=needle.replace(".", r"\.")):
        validate_parameters(deep_merge(test_params, override), stages={"retrieval", "experiments"})


def test_missing_entry_names_the_parameter_and_the_file(test_params):
    params = deep_merge(test_params, {})
    del params["experiment_models"]["sasrec"]
    msg = (
        "parameter 'experiment_models.sasrec' is missing: every table entry needs one "
        "(conf/base/parameters_experiments.yml)"
    )
    with pytest.raises(ConfigError) as e:
        validate_parameters(params)
    assert str(e.value) == msg


def test_k_values_error_names_both_parameters(test_params):
    with pytest.raises(ConfigError) as e:
        validate_parameters(deep_merge(test_params, {"retrieval": {"k": 3}}))
    assert "'experiments.k_values': [5] exceed retrieval.k = 3" in str(e.value)


def test_experiment_parameters_are_checked_only_when_the_experiments_run(test_params):
    bad = deep_merge(test_params, {"retrieval": {"k": 3}, "experiment_models": {"din": {"params": {"x": 1}}}})
    validate_parameters(
        bad, stages={"data_processing", "pretrain", "datastore", "retrieval", "train", "evaluate"}
    )
    with pytest.raises(ConfigError, match="experiment_models"):
        validate_parameters(bad, stages={"retrieval", "experiments"})


def test_the_validation_hook_passes_the_running_stages(test_params, monkeypatch):
    from kedro.pipeline import node, pipeline

    from liftrec.hooks import ParameterValidationHook

    hook = ParameterValidationHook()
    hook._params = deep_merge(test_params, {"experiments": {"k_values": [50]}})
    default = pipeline([node(len, "a", "b", name="n1", tags=["train"])])
    hook.before_pipeline_run({}, default, None)  # the experiments are not running: no error
    experiments = default + pipeline([node(len, "b", "c", name="n2", tags=["experiments"])])
    with pytest.raises(ConfigError, match=r"experiments\.k_values"):
        hook.before_pipeline_run({}, experiments, None)


def test_every_table_entry_has_parameters_in_base(test_params):
    assert set(test_params["experiment_models"]) == set(entries())
    assert set(ABLATIONS) < set(entries()) and "gbdt" in entries() and "mask_behaviour" not in entries()


def test_validation_is_cheap(test_params):
    validate_parameters(test_params)  # imports done once
    t0 = time.perf_counter()
    for _ in range(10):
        validate_parameters(test_params)
    assert time.perf_counter() - t0 < 2.0  # generous: milliseconds each, never a training


# ---------------------------------------------------------------------- through a session --


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        (
            {"experiment_models": {"din": {"params": {"field_dimm": 4}}}},
            "experiment_models.din.params.field_dimm",
        ),
        ({"experiments": {"k_values": [1, 50]}}, "experiments.k_values"),
    ],
    ids=["model-param-typo", "k-above-retrieval"],
)
def test_bad_parameter_fails_before_any_experiments_node_runs(project, params, needle):
    with pytest.raises(ConfigError, match=needle.replace(".", r"\.")):
        run_session(project, pipeline="experiments", params=params)
    assert outputs(project) == []  # nothing written, not even the shared stages' outputs


@pytest.fixture(scope="module")
def frozen_code():
    """Module digests as first read here: another developer's edit of the working tree between the two
    runs must not look like a code change (as in test_caching)."""
    original, seen = caching.module_digest, {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(caching, "module_digest", lambda name: seen.setdefault(name, original(name)))
        yield


def _run(project: Path) -> list[str]:
    from tests.pipelines.test_caching import run

    return run(project, pipeline_names=["experiments"])


@pytest.fixture(scope="module")
def experiments_run(tmp_path_factory: pytest.TempPathFactory, frozen_code) -> tuple[Path, list[str], float]:
    """One `kedro run --pipelines=experiments --env=test` in a temporary project: (folder, nodes run, s)."""
    from tests.pipelines.test_caching import _env

    root = tmp_path_factory.mktemp("experiments")
    shutil.copytree(REPO / "conf", root / "conf")
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    (root / "src").mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        for k, v in _env(root).items():
            mp.setenv(k, v)
        t0 = time.perf_counter()
        ran = _run(root)
        seconds = time.perf_counter() - t0
    return root, ran, seconds


@pytest.mark.slow
def test_experiments_pipeline_writes_every_table_run_and_figure(experiments_run):
    from liftrec.pipeline_registry import register_pipelines

    root, ran, _ = experiments_run
    assert sorted(ran) == sorted(n.name for n in register_pipelines()["experiments"].nodes)
    exp = root / EXP
    report = (exp / "report.md").read_text()
    for heading in (
        "# Experiments on synthetic",
        "## Models on synthetic (ctr; test;",
        "## LIFT ablations: contexts and pretraining",
        "## Encoders, pretrained or not",
        "## Mask ratio",
        "## Retrieved rows K",
        "## Window length L",
        "## Inference time (ms per 1,000 requests)",
    ):
        assert heading in report, heading
    assert "Paired t-test over 2 seeds" in report and "Paired bootstrap over" in report

    for name in entries():
        runs = json.loads((exp / "runs" / f"{name}.json").read_text())
        assert runs["name"] == name and runs["task"] == "ctr"
        if name in TOPN_ONLY:
            assert runs["skipped"] is True and runs["seeds"] == {}
            assert f"`{name}`" not in report
        else:
            assert runs["skipped"] is False and sorted(runs["seeds"]) == ["0", "1"], name
            assert 0.0 <= runs["seeds"]["0"]["test"]["AUC"] <= 1.0
            assert f"`{name}`" in report, name

    tables = json.loads((exp / "tables.json").read_text())
    assert tables["task"] == "ctr" and tables["primary_metric"] == "AUC"
    main, ablations = tables["models"]["summary"], tables["ablations"]["summary"]
    assert not set(ABLATIONS) & set(main) and set(ablations) == {"lift", *ABLATIONS}
    assert set(main) == set(entries()) - set(ABLATIONS) - set(TOPN_ONLY)
    assert set(tables["sweeps"]) == set(SWEEPS)
    assert [p["value"] for p in tables["sweeps"]["k"]] == [1, 5]  # conf/test: k_values [1, 5], retrieval.k 5
    assert [p["value"] for p in tables["sweeps"]["length"]] == [4, 8]
    assert [(p["encoder"], p["pretrained"]) for p in tables["sweeps"]["encoders"]] == [
        ("gru", True),
        ("gru", False),
    ]
    timed = tables["inference"]["models"]
    assert set(timed) == {"lift", "rim", "bert4rec"} and "online_ms_per_1k" not in timed["bert4rec"]
    assert timed["lift"]["online_ms_per_1k"] >= 0 and timed["rim"]["online_ms_per_1k"] >= 0

    figures = ["inference_time.png"] + [f"sweep_{s}.png" for s in SWEEPS if s != "encoders"]
    for fig in figures:
        assert (exp / fig).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", fig


@pytest.mark.slow
def test_a_second_experiments_run_reuses_everything(experiments_run, tmp_path, monkeypatch):
    from tests.pipelines.test_caching import _env

    root, _, _ = experiments_run
    proj = tmp_path / "proj"
    shutil.copytree(root, proj, symlinks=True)  # copy2 keeps mtimes: the cache stays valid
    monkeypatch.chdir(proj)
    for k, v in _env(proj).items():
        monkeypatch.setenv(k, v)
    report = (proj / EXP / "report.md").read_text()
    assert _run(proj) == []
    assert (proj / EXP / "report.md").read_text() == report
