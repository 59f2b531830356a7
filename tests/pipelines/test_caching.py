"""Change-aware node caching (liftrec.caching, liftrec.session) on the test environment.

One full run builds a baseline project (module fixture); each test works on a copy of it (mtimes
kept, so the copy's cache is valid) and checks exactly which nodes a second run executes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import mlflow
import pytest
from kedro.runner import SequentialRunner

from liftrec import caching
from tests.pipelines.conftest import REPO

CACHE = Path("data/.cache/synthetic")


class Spy(SequentialRunner):
    """A SequentialRunner that records the nodes it was asked to execute (after the cache's filter)."""

    def __init__(self, ran: list[str]) -> None:
        super().__init__()
        self._ran = ran

    def _run(self, pipeline, catalog, hook_manager=None, run_id=None):
        self._ran.extend(n.name for n in pipeline.nodes)
        return super()._run(pipeline, catalog, hook_manager, run_id)


def run(project: Path, params: dict[str, Any] | None = None, **kwargs: Any) -> list[str]:
    """One ``kedro run --env=test`` through the project's SESSION_CLASS; the nodes that executed."""
    from kedro.framework.project import settings
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(project)
    ran: list[str] = []
    create = settings.SESSION_CLASS.create
    with create(project_path=project, env="test", runtime_params=params or {}) as session:
        session.run(runner=Spy(ran), **kwargs)
    return ran


def downstream(*names: str) -> list[str]:
    """The named nodes and every node after them in the default pipeline (topological order)."""
    from liftrec.pipeline_registry import register_pipelines

    return [n.name for n in register_pipelines()["__default__"].from_nodes(*names).nodes]


def all_nodes() -> list[str]:
    from liftrec.pipeline_registry import register_pipelines

    return [n.name for n in register_pipelines()["__default__"].nodes]


def entry(project: Path, node: str) -> dict[str, Any] | None:
    path = project / CACHE / f"{node}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _env(project: Path) -> dict[str, str]:
    uri = f"sqlite:///{project / 'mlflow.db'}"
    return {"MLFLOW_TRACKING_URI": uri, "KEDRO_DISABLE_TELEMETRY": "1", "CI": "true"}


@pytest.fixture(scope="module")
def frozen_code():
    """Module digests as first read in this test module: an edit to the working tree while the tests
    run (another developer's) does not look like a code change between two runs of one test."""
    original, seen = caching.module_digest, {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(caching, "module_digest", lambda name: seen.setdefault(name, original(name)))
        yield


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory, frozen_code) -> Path:
    root = tmp_path_factory.mktemp("cache_baseline")
    shutil.copytree(REPO / "conf", root / "conf")
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    (root / "src").mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        for k, v in _env(root).items():
            mp.setenv(k, v)
        assert run(root) == all_nodes()
    return root


@pytest.fixture
def project(baseline: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the baseline (data, cache, MLflow store) as the working directory."""
    proj = tmp_path / "proj"
    shutil.copytree(baseline, proj, symlinks=True)  # copy2 keeps mtimes: the cache stays valid
    monkeypatch.chdir(proj)
    for k, v in _env(proj).items():
        monkeypatch.setenv(k, v)
    return proj


@pytest.mark.slow
def test_nothing_changed_reruns_nothing_and_reused_stages_point_to_their_runs(project):
    from kedro.framework.project import settings

    from liftrec.session import CachingSession

    before = {p.name: p.read_text() for p in (project / CACHE).glob("*.json")}
    assert run(project) == []
    assert settings.SESSION_CLASS is CachingSession  # so plain `kedro run` caches too
    assert {p.name: p.read_text() for p in (project / CACHE).glob("*.json")} == before

    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["liftrec"], output_format="list",
                              order_by=["attributes.start_time"])  # fmt: skip
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    first, second = parents[0].info.run_id, parents[1].info.run_id
    children = [(r.data.tags, r.info.run_id) for r in runs if "mlflow.parentRunId" in r.data.tags]
    produced = {tags["stage"]: rid for tags, rid in children if tags["mlflow.parentRunId"] == first}
    reused = {tags["stage"]: tags for tags, _ in children if tags["mlflow.parentRunId"] == second}
    assert sorted(reused) == sorted(produced)
    for stage, tags in reused.items():
        assert tags["reused_from"] == produced[stage]


@pytest.mark.slow
def test_predictor_learning_rate_reruns_only_train_and_evaluate(project, caplog):
    params = {"train": {"training": {"lr": 0.002}}}
    with caplog.at_level("INFO", logger="liftrec.session"):
        ran = run(project, params)
    # the reason names the changed key with its old and new value
    assert "Cache: running node train_predictor (parameters changed: train.training.lr 0.001 -> 0.002)" in (
        caplog.text
    )
    assert ran == downstream("train_predictor")
    assert not {"pretrain_encoder", "encode_datastore", "retrieve_neighbours"} & set(ran)
    assert run(project, params) == []  # the new fingerprint was recorded


@pytest.mark.slow
def test_mask_ratio_reruns_pretraining_and_what_follows_but_not_the_data_or_retrieval(project):
    ran = run(project, {"pretrain": {"mask_ratio": 0.5}})
    assert ran == downstream("pretrain_encoder")
    assert not {"ingest_interactions", "split_by_time", "sample_negatives", "build_windows",
                "retrieve_neighbours"} & set(ran)  # fmt: skip


@pytest.mark.slow
def test_a_library_change_reruns_the_nodes_that_import_it(project, monkeypatch):
    original = caching.module_digest
    edited = "liftrec.recsys.models.lift"
    monkeypatch.setattr(caching, "module_digest", lambda name: "edited" if name == edited else original(name))
    ran = run(project)
    assert ran == downstream("train_predictor")
    assert entry(project, "train_predictor")["parts"]["code"]["modules"][edited] == "edited"


@pytest.mark.slow
def test_deleted_or_truncated_output_reruns_its_node_and_downstream(project):
    (project / "data/04_feature/synthetic/rows.parquet").unlink()
    assert run(project) == downstream("sample_negatives")

    encoder = project / "data/06_models/synthetic/encoder.pt"
    with open(encoder, "r+b") as f:
        f.truncate(encoder.stat().st_size // 2)
    assert run(project) == downstream("pretrain_encoder")


@pytest.mark.slow
def test_cache_false_reruns_everything_and_records_it(project):
    before = entry(project, "ingest_interactions")["provenance"]["kedro_run_id"]
    assert run(project, {"cache": False}) == all_nodes()
    assert entry(project, "ingest_interactions")["provenance"]["kedro_run_id"] != before
    assert run(project) == []


@pytest.mark.slow
def test_a_node_failing_halfway_leaves_no_entry_and_reruns_next_time(project, monkeypatch):
    from liftrec.datasets import AtomicJSONDataset

    def fail(self, data):
        raise OSError("disk full")

    params = {"retrieval": {"k": 4}}
    monkeypatch.setattr(AtomicJSONDataset, "save", fail)  # `retrieved` is saved, `retrieval_metrics` fails
    with pytest.raises(Exception, match="disk full"):
        run(project, params)
    assert entry(project, "retrieve_neighbours") is None
    assert entry(project, "ingest_interactions") is not None

    monkeypatch.undo()
    monkeypatch.chdir(project)
    for k, v in _env(project).items():
        monkeypatch.setenv(k, v)
    assert run(project, params) == downstream("retrieve_neighbours")


@pytest.mark.slow
def test_only_missing_outputs_and_slicing_flags_compose_with_the_cache(project):
    (project / "data/08_reporting/synthetic/metrics.json").unlink()
    assert run(project, only_missing_outputs=True) == ["compute_metrics"]  # Kedro's rule: report.md exists
    assert run(project, node_names=["train_predictor"]) == []
    assert run(project, pipeline_names=["retrieval"]) == []
    assert run(project, {"cache": False}, node_names=["train_predictor"]) == ["train_predictor"]
    ran = run(project, {"cache": False}, to_nodes=["split_by_time"])
    assert ran == ["ingest_interactions", "split_by_time"]


@pytest.mark.slow
def test_plain_kedro_run_on_the_command_line_skips_unchanged_nodes(project):
    env = {**os.environ, **_env(project), "COLUMNS": "250"}
    kedro = Path(sys.executable).with_name("kedro")
    out = subprocess.run([str(kedro), "run", "--env=test"], cwd=project, env=env, capture_output=True,
                         text=True)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    log = out.stdout + out.stderr
    n = len(all_nodes())
    assert f"Cache: {n} of {n} nodes reused, 0 to run" in log
    assert "Cache: skipped node train_predictor (unchanged since run" in log


# ------------------------------------------------------------------ fast checks, no session --


def test_changed_values_names_each_leaf_with_old_and_new():
    old = {"params:train": {"training": {"lr": 0.001, "epochs": 8}, "model": "lift"}, "params:seed": 42}
    new = {"params:train": {"training": {"lr": 0.003, "epochs": 8}, "model": "lift"}, "params:seed": 7}
    assert caching.changed_values(old, new) == "seed 42 -> 7, train.training.lr 0.001 -> 0.003"
    many = {"params:x": {str(i): i for i in range(9)}}
    assert caching.changed_values(many, {"params:x": {}}).endswith("and 4 more")


def test_bad_cache_value_is_rejected():
    from kedro.config import OmegaConfigLoader

    from liftrec.pipelines.params import validate_parameters
    from liftrec.recsys.errors import ConfigError

    params = OmegaConfigLoader(str(REPO / "conf"), base_env="base", default_run_env="test",
                               merge_strategy={"parameters": "soft"})["parameters"]  # fmt: skip
    assert params["cache"] is True
    with pytest.raises(ConfigError, match="parameter 'cache'"):
        validate_parameters({**params, "cache": "no"})


def test_code_fingerprint_follows_library_imports_but_not_validation_only_imports():
    data, _ = caching.module_closure("liftrec.pipelines.data_processing.nodes")
    train, third = caching.module_closure("liftrec.pipelines.train.nodes")
    assert "liftrec.recsys.data.split" in data and "liftrec.pipelines.params" in data
    assert "liftrec.recsys.models.lift" not in data  # params.py imports it only inside its validator
    assert "liftrec.recsys.models.lift" in train and "liftrec.recsys.data.split" not in train
    assert "torch" in third
    bm25, _ = caching.module_closure("liftrec.recsys.retrieval.bm25")
    assert "liftrec.recsys.retrieval.oracle" in bm25  # a function-local import in the library counts


def test_file_signature_hashes_small_files_and_stats_large_ones(tmp_path, monkeypatch):
    small = tmp_path / "m.json"
    small.write_text('{"a": 1}')
    sig = caching.file_signature(small)
    os.utime(small, ns=(1, 1))
    assert caching.file_signature(small) == sig  # touching a small file changes nothing
    small.write_text('{"a": 2}')
    assert caching.file_signature(small) != sig

    monkeypatch.setattr(caching, "SMALL_FILE", 4)
    sig = caching.file_signature(small)
    os.utime(small, ns=(2, 2))
    assert caching.file_signature(small) != sig  # large: size + mtime
    folder = tmp_path / "arrays"
    folder.mkdir()
    (folder / "x.npy").write_bytes(b"12345678")
    (folder / ".x.npy.tmp").write_bytes(b"partial")
    assert list(caching.file_signature(folder)["files"]) == ["x.npy"]
    assert caching.file_signature(tmp_path / "absent") is None


def test_raw_files_are_part_of_the_ingestion_fingerprint(tmp_path):
    from kedro.io import DataCatalog, MemoryDataset

    from liftrec.pipelines.data_processing.pipeline import create_pipeline

    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "u.data").write_text("1\t2\t3\t4\n")
    ingest = next(n for n in create_pipeline().nodes if n.name == "ingest_interactions")
    values = {"dataset": "ml-100k", "raw_dir": str(raw), "ingest": {}, "synthetic": {}, "seed": 1}
    catalog = DataCatalog({f"params:{k}": MemoryDataset(v) for k, v in values.items()})
    cache = caching.NodeCache(catalog, tmp_path)
    before = cache.parts(ingest)
    assert before == cache.parts(ingest)
    (raw / "u.data").write_text("1\t2\t3\t4\n5\t6\t7\t8\n")
    assert caching._explain(before, cache.parts(ingest)) == f"raw files changed: {raw}"


def test_manifest_entries_are_written_atomically_and_dropped(tmp_path):
    manifest = caching.Manifest(tmp_path / "m")
    manifest.put({"node": "a/b", "outputs": {"x": {"version": "1"}}, "recorded": "1"})
    assert caching.Manifest(tmp_path / "m").get("a/b")["outputs"]["x"]["version"] == "1"
    assert caching.Manifest(tmp_path / "m").producer("x") == {"version": "1"}
    assert [p.name for p in (tmp_path / "m").iterdir()] == ["a_b.json"]  # no temporary left behind
    manifest.drop("a/b")
    assert caching.Manifest(tmp_path / "m").get("a/b") is None
