"""An interrupted ``kedro run`` (Ctrl-C or SIGTERM) leaves no MLflow run RUNNING: the parent and the
running stage end KILLED (stages that completed stay FINISHED) and the parent names that stage."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_run_ends_killed_in_mlflow(project: Path, sig: signal.Signals):
    kedro = Path(sys.executable).with_name("kedro")
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}", "COLUMNS": "200",
           "KEDRO_DISABLE_TELEMETRY": "1", "CI": "true", "PYTHONUNBUFFERED": "1"}  # fmt: skip
    # enough pretraining epochs that the signal lands inside the pretrain stage
    params = "--params=pretrain.training.epochs=500,pretrain.training.patience=500"
    proc = subprocess.Popen([str(kedro), "run", "--env=test", params], cwd=project, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    deadline, seen = time.monotonic() + 120, []
    assert proc.stdout is not None
    for line in proc.stdout:
        seen.append(line)
        if "epoch 2/500" in line or time.monotonic() > deadline:
            break
    proc.send_signal(sig)
    proc.communicate(timeout=120)
    assert proc.returncode != 0, "".join(seen[-20:])
    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["liftrec"], output_format="list")
    status = {r.data.tags.get("stage", "parent"): r.info.status for r in runs}
    assert "RUNNING" not in status.values(), status
    # the interrupted stage and the parent are killed; a stage that ran to its end stays FINISHED
    assert status["parent"] == "KILLED" and status["pretrain"] == "KILLED", status
    assert status["data_processing"] == "FINISHED", status
    parent = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert parent[0].data.tags.get("interrupted_stage") == "pretrain"
