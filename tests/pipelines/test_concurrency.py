"""Two ``kedro run`` at once: the second on the same dataset stops at once, naming the first; runs on
different datasets both finish, and a fresh MLflow store is created once, safely."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest

from liftrec.runlock import RunLockedError, remove_interrupted_saves, run_lock


def test_a_second_lock_on_a_dataset_names_the_holder(tmp_path: Path):
    with run_lock(tmp_path, "synthetic"):
        with pytest.raises(
            RunLockedError, match=rf"another kedro run \(pid {os.getpid()}, started .*'synthetic'"
        ):
            with run_lock(tmp_path, "synthetic"):
                pass
        with run_lock(tmp_path, "ml-100k"):  # another dataset's outputs: no conflict
            pass
    with run_lock(tmp_path, "synthetic"):  # released at the end of the run
        pass


def test_saves_left_by_a_killed_run_are_removed(tmp_path: Path):
    feature = tmp_path / "data" / "04_feature"
    for ds in ("synthetic", "ml-100k"):
        (feature / ds).mkdir(parents=True)
        (feature / ds / "rows.parquet").write_bytes(b"kept")
        (feature / ds / ".rows.parquet.ab12.tmp").write_bytes(b"half")
    (feature / "synthetic" / ".windows.x9.tmp").mkdir()
    removed = remove_interrupted_saves(tmp_path, "synthetic")
    assert sorted(p.name for p in removed) == [".rows.parquet.ab12.tmp", ".windows.x9.tmp"]
    assert (feature / "synthetic" / "rows.parquet").read_bytes() == b"kept"
    assert (feature / "ml-100k" / ".rows.parquet.ab12.tmp").exists()  # another dataset's run may be saving


def _start(project: Path, *params: str) -> subprocess.Popen:
    kedro = Path(sys.executable).with_name("kedro")
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}", "COLUMNS": "200",
           "KEDRO_DISABLE_TELEMETRY": "1", "CI": "true"}  # fmt: skip
    return subprocess.Popen([str(kedro), "run", "--env=test", *params], cwd=project, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip


@pytest.mark.slow
def test_two_runs_started_together(project: Path, shared_data: Path):
    same = [_start(project), _start(project)]
    outs = [p.communicate(timeout=600)[0] for p in same]
    codes = sorted(p.returncode for p in same)
    assert codes == [0, 1], outs
    loser = outs[[p.returncode for p in same].index(1)]
    assert "another kedro run (pid" in loser and "Traceback" not in loser and "sqlite3" not in loser
    # different datasets, started together on the now-existing store: both finish
    ml1m = f"--params=dataset=ml-1m,raw_dir={shared_data / 'ml-1m'},split.mode=quantiles"
    other = [_start(project, "--params=task=topn,cache=false"), _start(project, ml1m)]
    outs = [p.communicate(timeout=600)[0] for p in other]
    assert [p.returncode for p in other] == [0, 0], [o[-1500:] for o in outs]
    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    parents = [r for r in mlflow.search_runs(experiment_names=["liftrec"], output_format="list")
               if "mlflow.parentRunId" not in r.data.tags]  # fmt: skip
    assert sorted(r.info.status for r in parents) == ["FINISHED"] * 3


@pytest.mark.slow
def test_a_fresh_store_is_created_once_by_two_runs(project: Path, shared_data: Path):
    ml1m = f"--params=dataset=ml-1m,raw_dir={shared_data / 'ml-1m'},split.mode=quantiles"
    both = [
        _start(project, "--pipelines=data_processing"),
        _start(project, "--pipelines=data_processing", ml1m),
    ]
    outs = [p.communicate(timeout=600)[0] for p in both]
    assert [p.returncode for p in both] == [0, 0], [o[-1500:] for o in outs]
    assert not any("duplicate column" in o or "OperationalError" in o for o in outs)
