"""``kedro run`` on the command line: a bad parameter or a missing raw folder ends in its one message,
exit status 1, no traceback, before any node runs and before any MLflow run is created."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def kedro_run(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    kedro = Path(sys.executable).with_name("kedro")
    full = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}",
            "KEDRO_DISABLE_TELEMETRY": "1", "CI": "true", "COLUMNS": "200", **env}  # fmt: skip
    return subprocess.run([str(kedro), "run", *args], cwd=project, env=full, capture_output=True, text=True)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("params", "needle"),
    [
        (
            "dataset=ml100k",
            "unknown dataset 'ml100k'; known: ['alipay', 'lastfm-1k', 'ml-100k', 'ml-1m', "
            "'synthetic', 'taobao', 'tmall']; did you mean 'ml-100k'?",
        ),
        ("train.lift.use_futur=false", "Error: unknown parameter 'train.lift.use_futur'"),
        ("negatives.topn_target_fractoin=0.5", "did you mean 'negatives.topn_target_fraction'?"),
        ("dataset=ml-100k,raw_dir=/nonexistent", "Error: parameter 'raw_dir': /nonexistent: raw data folder"),
    ],
    ids=["dataset-typo", "key-typo", "nested-key-typo", "missing-raw-dir"],
)
def test_bad_input_ends_in_one_message_before_anything_runs(project, params, needle):
    out = kedro_run(project, "--env=test", f"--params={params}")
    log = out.stdout + out.stderr
    assert out.returncode == 1
    assert needle in log and "Traceback" not in log and "╭" not in log
    lines = log.strip().splitlines()
    assert len(lines) <= 5 and lines[-1].startswith("Error: "), lines  # the last line names the fix
    assert "Running node" not in log
    assert not (project / "mlflow.db").exists() and not (project / "data").exists()


@pytest.mark.slow
def test_the_traceback_comes_back_on_request(project):
    out = kedro_run(project, "--env=test", "--params=dataset=ml100k", LIFTREC_TRACEBACK="1")
    assert out.returncode == 1 and "ConfigError" in out.stderr and "Traceback" in out.stderr


@pytest.mark.slow
def test_a_successful_run_ends_with_its_summary(project):
    out = kedro_run(project, "--env=test")
    assert out.returncode == 0, out.stderr[-2000:]
    last = out.stdout.strip().splitlines()[-5:]  # the summary is on stdout, after every log line
    assert last[0].startswith("liftrec: __default__ on synthetic done")
    assert "test (ctr): AUC" in last[1] and "popularity floor: AUC" in last[1]
    assert last[2].strip() == f"report: {project / 'data' / '08_reporting' / 'synthetic' / 'report.md'}"
    assert last[3].strip().startswith("MLflow run ") and "cache: 0 of" in last[4]
