"""What does the node cache save? Three ``kedro run`` calls in a scratch copy of the project.

1. a first run (no cache entries: every node runs),
2. the same command again (nothing changed: every node should be skipped),
3. the same command with only the predictor's learning rate changed (only train/evaluate should run),
4. (``--cache-false``) ``--params=cache=false``: everything reruns, as a check of the opt-out.

Each call is a fresh ``kedro`` process (wall time includes Python, Kedro and MLflow start-up), in a
temporary folder holding a copy of conf/, src/ and pyproject.toml: the repository's data/ and
mlflow.db are untouched, and edits to the working tree during the benchmark do not reach it (the
copy of src/ comes first on PYTHONPATH). Prints a table, the nodes that ran per call (from the
cache's log lines), and the time the plan itself takes in-process; ``--out`` writes the same as JSON.

Usage: python benchmarks/bench_cache.py [--env local] [--lr 0.002] [--cache-false] [--keep] [--out r.json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KEDRO = Path(sys.executable).with_name("kedro")


def _env(project: Path) -> dict[str, str]:
    return {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "PYTHONPATH": str(project / "src")}


def kedro_run(project: Path, env: str, params: str | None) -> dict:
    """One ``kedro run`` in ``project``: wall seconds and the nodes the cache ran / skipped."""
    cmd = [str(KEDRO), "run", f"--env={env}"] + ([f"--params={params}"] if params else [])
    environ = {**_env(project), "COLUMNS": "250", "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}"}
    load = os.getloadavg()[0]  # other processes on the machine inflate wall time, not CPU time
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=project, env=environ, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    log = out.stdout + out.stderr
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{log[-4000:]}")
    ran = re.findall(r"Cache: running node (\S+) \(", log)
    skipped = re.findall(r"Cache: skipped node (\S+) \(", log)
    execution = re.search(r"Pipeline execution completed successfully in ([\d.]+) sec", log)
    return {"command": " ".join(cmd[1:]), "seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2),
            "load": load, "ran": ran, "skipped": skipped,
            "execution_seconds": float(execution.group(1)) if execution else None}  # fmt: skip


def node_seconds(project: Path) -> list[dict[str, float]]:
    """Per call (oldest first), each node's seconds as the MLflow hook logged them (``seconds.<node>``)."""
    code = f"""
import json, mlflow
mlflow.set_tracking_uri("sqlite:///{project / "mlflow.db"}")
runs = mlflow.search_runs(experiment_names=["liftrec"], output_format="list",
                          order_by=["attributes.start_time"])
parents = [r.info.run_id for r in runs if "mlflow.parentRunId" not in r.data.tags]
out = [dict() for _ in parents]
for r in runs:
    parent = r.data.tags.get("mlflow.parentRunId")
    if parent in parents:
        timed = {{k[8:]: round(v, 2) for k, v in r.data.metrics.items() if k.startswith("seconds.")}}
        out[parents.index(parent)].update(timed)
print(json.dumps(out))
"""
    out = subprocess.run([sys.executable, "-c", code], env=_env(project), capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else []


def plan_seconds(project: Path, env: str, params: dict) -> dict:
    """The cache's own cost: building the plan of the default pipeline in-process (cold, then warm)."""
    code = f"""
import json, os, time
os.chdir({str(project)!r})
from kedro.framework.project import pipelines
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
bootstrap_project({str(project)!r})
from liftrec.caching import NodeCache
with KedroSession.create(project_path={str(project)!r}, env={env!r}, runtime_params={params!r}) as s:
    catalog = s.load_context().catalog
    pipe = pipelines["__default__"]
    out = []
    for _ in range(2):
        t = time.perf_counter(); plan = NodeCache(catalog, {str(project)!r}).plan(pipe)
        out.append(time.perf_counter() - t)
import liftrec
assert liftrec.__file__.startswith({str(project)!r}), liftrec.__file__
print(json.dumps({{"cold": out[0], "warm": out[1], "nodes": len(plan.decisions),
                  "reused": len(plan.reused)}}))
"""
    cmd = [sys.executable, "-c", code]
    out = subprocess.run(cmd, cwd=project, env=_env(project), capture_output=True, text=True)
    if out.returncode != 0:
        return {"error": out.stderr[-1000:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--env", default="local", help="Kedro environment (local = the default synthetic run)")
    ap.add_argument("--lr", type=float, default=0.002, help="the changed train.training.lr of call 3")
    ap.add_argument("--cache-false", action="store_true", help="also time --params=cache=false")
    ap.add_argument("--keep", action="store_true", help="keep the scratch project")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="liftrec_bench_cache_"))
    shutil.copytree(REPO / "conf", scratch / "conf", ignore=shutil.ignore_patterns("credentials*"))
    shutil.copy(REPO / "pyproject.toml", scratch / "pyproject.toml")
    shutil.copytree(REPO / "src", scratch / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    try:
        calls = {
            "first run": kedro_run(scratch, args.env, None),
            "second run, nothing changed": kedro_run(scratch, args.env, None),
            f"train.training.lr={args.lr}": kedro_run(scratch, args.env, f"train.training.lr={args.lr}"),
        }
        if args.cache_false:
            calls["cache=false"] = kedro_run(scratch, args.env, "cache=false")
        plan = plan_seconds(scratch, args.env, {"train": {"training": {"lr": args.lr}}})
        for call, seconds in zip(calls.values(), node_seconds(scratch), strict=False):
            call["node_seconds"] = seconds
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)

    first = calls["first run"]["seconds"]
    loads = ", ".join(f"{c['load']:.1f}" for c in calls.values())
    where = f"{os.cpu_count()} CPUs, load at each start: {loads}"
    print(f"kedro run --env={args.env} in a scratch copy ({where})")
    print()
    first_cpu = calls["first run"]["cpu_seconds"]
    print("| call | wall s | vs first | CPU s | vs first | nodes run | nodes skipped |")
    print("|---|---|---|---|---|---|---|")
    for name, c in calls.items():
        wall, cpu = c["seconds"], c["cpu_seconds"]
        print(
            f"| {name} | {wall:.1f} | {wall / first:.1%} | {cpu:.1f} | {cpu / first_cpu:.1%} "
            f"| {len(c['ran'])} | {len(c['skipped'])} |"
        )
    for name, c in calls.items():
        timed = c.get("node_seconds", {})
        ran = ", ".join(f"{n} {timed[n]:.1f} s" if n in timed else n for n in c["ran"])
        print(f"\n{name}: ran {ran or '(nothing)'}")
    print(f"\nplan of the default pipeline in-process: {plan}")
    result = {"env": args.env, "cpus": os.cpu_count(), "calls": calls, "plan": plan, "scratch": str(scratch)}
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
