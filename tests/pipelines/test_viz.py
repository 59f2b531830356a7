"""kedro-viz serves the whole lineage of the project: every node, datasets by layer, a tag per stage."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from liftrec.pipeline_registry import STAGES

pytest.importorskip("kedro_viz")

STARTUP_S = 90  # measured ~7 s on 2 cores; generous for a loaded CI machine
# Kedro's layer order (data/0N_<layer>): kedro-viz draws the bands in this order
LAYERS = ["intermediate", "primary", "feature", "model_input", "models", "model_output", "reporting"]


def _free_port() -> int:
    # kedro viz refuses ports above 49151 (the OS hands out ephemeral ports above it), so probe below
    rng = random.Random()
    for _ in range(100):
        port = rng.randrange(20000, 49000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free TCP port in 20000-49000")


def _get_json(url: str, deadline: float, server: subprocess.Popen) -> dict:
    while True:
        if server.poll() is not None:
            raise AssertionError(f"kedro viz exited with {server.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return json.loads(resp.read())
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _stop(server: subprocess.Popen) -> None:
    # kedro viz runs uvicorn in a child process: end the whole process group it leads
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
    else:
        try:
            os.killpg(server.pid, signal.SIGKILL)  # a child left behind by an exited leader
        except ProcessLookupError:
            pass


@pytest.fixture
def viz_graphs(project: Path) -> dict:
    """The graphs kedro-viz serves for ``__default__`` (GET /api/main) and for ``experiments``, from a
    temporary project copy."""
    kedro = Path(sys.executable).with_name("kedro")
    if not kedro.exists():
        kedro = Path(shutil.which("kedro") or "kedro")
    port = _free_port()
    log = project / "viz.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [str(kedro), "viz", "run", "--no-browser", "--host", "127.0.0.1", "--port", str(port)],
            cwd=project, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + STARTUP_S
            main = _get_json(f"http://127.0.0.1:{port}/api/main", deadline, server)
            return {"main": main, "experiments": _get_json(f"http://127.0.0.1:{port}/api/pipelines/experiments",
                                                           deadline, server)}  # fmt: skip
        except BaseException:
            print(log.read_text()[-3000:])
            raise
        finally:
            _stop(server)


@pytest.fixture
def viz_graph(viz_graphs: dict) -> dict:
    return viz_graphs["main"]


@pytest.mark.slow
def test_kedro_viz_serves_every_node_dataset_layer_and_stage(project, viz_graphs):
    from kedro.framework.project import pipelines
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(project)
    viz_graph = viz_graphs["main"]
    default = pipelines["__default__"]
    by_type: dict[str, dict[str, dict]] = {}
    for n in viz_graph["nodes"]:
        by_type.setdefault(n["type"], {})[n["name"]] = n

    assert viz_graph["selected_pipeline"] == "__default__"
    assert {p["id"] for p in viz_graph["pipelines"]} == {*STAGES, "__default__", "experiments"}
    assert set(by_type["task"]) == {n.name for n in default.nodes}
    params = {d for d in default.datasets() if d.startswith("params:")}
    assert set(by_type["parameters"]) == params
    assert set(by_type["data"]) == default.datasets() - params
    # every dataset carries its layer, and the layers are acyclic (kedro-viz drops them all otherwise)
    assert all(d["layer"] in LAYERS for d in by_type["data"].values()), {
        k: d["layer"] for k, d in by_type["data"].items() if d["layer"] not in LAYERS
    }
    assert viz_graph["layers"] == [layer for layer in LAYERS if layer in viz_graph["layers"]]
    assert {"intermediate", "models", "reporting"} <= set(viz_graph["layers"])
    # one tag per stage, each task tagged with exactly its stage
    assert {t["id"] for t in viz_graph["tags"]} == {
        *STAGES,
        "experiments",
    }  # tags of every registered pipeline
    assert all(len(t["tags"]) == 1 and t["tags"][0] in STAGES for t in by_type["task"].values())
    assert by_type["task"]["plot_training_curves"]["tags"] == ["evaluate"]
    # the experiments pipeline: the shared stages, one namespaced template per table entry, sweeps, report
    from liftrec.pipelines.experiments.pipeline import entries

    exp = viz_graphs["experiments"]
    tasks = [n for n in exp["nodes"] if n["type"] == "task"]
    assert len(tasks) == len(pipelines["experiments"].nodes)
    per_entry = sorted(n["modular_pipelines"][0] for n in tasks if n["modular_pipelines"])
    assert per_entry == sorted(f"exp.{e}" for e in entries())  # one run_model in each namespace
    assert {n["name"] for n in tasks if n["modular_pipelines"]} == {"run_model"}
    assert {"retrieve_neighbours", "time_inference", "write_experiments_report"} <= {n["name"] for n in tasks}
    assert all(n["tags"] == ["experiments"] for n in tasks if n["name"] not in by_type["task"])
