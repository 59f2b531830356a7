"""Fault injection (slow tier): a run killed mid-training, then rerun on changed inputs, never resumes the
stale checkpoint; it gives the metrics of a clean run with the same parameters."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.pipelines.conftest import REPO

TRAIN = "train.training.epochs=40,train.training.patience=40"
PRETRAIN = "pretrain.training.epochs=40,pretrain.training.patience=40"


def _env(project: Path) -> dict[str, str]:
    return {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}", "COLUMNS": "200",
            "KEDRO_DISABLE_TELEMETRY": "1", "CI": "true", "PYTHONUNBUFFERED": "1"}  # fmt: skip


def _kedro(project: Path, params: str) -> subprocess.CompletedProcess:
    kedro = Path(sys.executable).with_name("kedro")
    cmd = [str(kedro), "run", "--env=test", f"--params={params}"]
    return subprocess.run(cmd, cwd=project, env=_env(project), capture_output=True, text=True, timeout=600)


def _fresh(path: Path) -> Path:
    path.mkdir()
    shutil.copytree(REPO / "conf", path / "conf")
    shutil.copy(REPO / "pyproject.toml", path / "pyproject.toml")
    (path / "src").mkdir()
    return path


@pytest.mark.slow
@pytest.mark.parametrize(
    ("stage", "params", "change"),
    [
        # the reproduction: the same training parameters, another mask ratio upstream
        ("train", TRAIN, "pretrain.mask_ratio=0.6"),
        # its pretraining twin: the same pretraining parameters, other retrieval-period negatives
        ("pretrain", PRETRAIN, "negatives.retrieval_per_positive=2"),
    ],
)
def test_killed_training_rerun_on_changed_inputs_starts_fresh(tmp_path: Path, stage, params, change):
    project = _fresh(tmp_path / "a")
    kedro = Path(sys.executable).with_name("kedro")
    cmd = [str(kedro), "run", "--env=test", f"--params={params}"]
    proc = subprocess.Popen(
        cmd, cwd=project, env=_env(project), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 300
    for line in proc.stdout:
        if "epoch 3/40" in line or time.monotonic() > deadline:
            break
    proc.send_signal(signal.SIGKILL)  # kill -9: no hook, no exit handler runs
    proc.wait(timeout=60)
    checkpoints = list((project / "data" / "06_models" / "synthetic" / "checkpoints").glob(f"{stage}-*"))
    assert checkpoints, "the killed run left a checkpoint"

    changed = f"{params},{change}"
    out = _kedro(project, changed)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "resuming from" not in out.stdout + out.stderr
    clean = _fresh(tmp_path / "b")
    assert _kedro(clean, changed).returncode == 0
    metrics = [
        json.loads((p / "data/08_reporting/synthetic/metrics.json").read_text()) for p in (project, clean)
    ]
    assert metrics[0] == metrics[1]
