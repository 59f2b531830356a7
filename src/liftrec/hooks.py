"""Project hooks: parameter validation before any node runs, and MLflow tracking.

Every ``kedro run`` is one MLflow run, named ``<pipelines> | <dataset> | seed=<seed>`` followed by
the parameters given with ``--params`` (:func:`run_name`); each pipeline stage (a node tag in
``STAGES``) is a nested child run ``<stage> | <dataset>`` holding that stage's parameters, its
metrics (any node output named ``*_metrics``: scalars as metrics, lists of numbers as per-step
curves), per-node timings and artefacts (outputs named ``*_plot`` / ``*_report`` are logged as
files).
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import signal
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from kedro.framework.hooks import hook_impl

from liftrec.pipeline_registry import STAGES
from liftrec.recsys.config import flatten
from liftrec.recsys.errors import ConfigError
from liftrec.runlock import exclusive

logger = logging.getLogger(__name__)

EXPERIMENT = "liftrec"


def tracking_uri(project_path: Path) -> str:
    """``MLFLOW_TRACKING_URI`` when set, else an SQLite store at an absolute path in the project root."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path(project_path).resolve() / 'mlflow.db'}"


_NOT_IN_MLFLOW_NAMES = re.compile(r"[^0-9A-Za-z_\-. :/]")


def mlflow_metric_name(name: str) -> str:
    """The name MLflow stores a metric under: the paper's ``HR@10`` becomes ``HR_at_10``.

    MLflow accepts alphanumerics, ``_ - . : /`` and spaces only; the JSON reports keep the paper's names.
    """
    return _NOT_IN_MLFLOW_NAMES.sub("_", name.replace("@", "_at_"))


_NAMED = ("dataset", "seed")  # already spelled out in every run name
_NAME_MAX = 250  # MLflow's run table shows short names; the full list is the ``cli_params`` tag


def _value(v: Any) -> str:
    """A parameter value as typed on the command line (``true``, not ``True``)."""
    if isinstance(v, bool):
        return str(v).lower()
    return "null" if v is None else str(v)


def cli_params(runtime_params: dict[str, Any] | None) -> str:
    """The ``--params`` of a run as ``key=value`` pairs (nested keys dotted), without dataset and seed.

    Args:
        runtime_params: the session's runtime parameters (``run_params["runtime_params"]``).

    Returns:
        e.g. ``"train.training.lr=0.003, pretrain.enabled=false"``; empty when none were given.
    """
    flat = flatten(runtime_params or {})
    return ", ".join(f"{k}={_value(v)}" for k, v in flat.items() if k not in _NAMED)


def run_name(pipelines: list[str], dataset: str, seed: Any, params: str = "") -> str:
    """The parent run's name: ``<pipelines> | <dataset> | seed=<seed>[ | <command-line params>]``."""
    name = f"{'+'.join(pipelines)} | {dataset} | seed={seed}" + (f" | {params}" if params else "")
    return name if len(name) <= _NAME_MAX else name[: _NAME_MAX - 1] + "…"


def _stage(node) -> str:
    """The pipeline stage a node belongs to (its tag in ``STAGES``)."""
    return next((t for t in node.tags if t in STAGES), "other")


class ParameterValidationHook:
    """Builds every typed config from the run's parameters before any node runs.

    ``retrieval.k`` needs the retrieval set's size: checked as soon as it is known, from the cached
    rows table when the data stage is reused, else right after ``sample_negatives`` ran, so an
    impossible K never costs a pretraining.
    """

    @hook_impl
    def after_context_created(self, context) -> None:
        self._params = context.params
        self._project_path = Path(context.project_path)

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        from liftrec.pipelines.params import validate_parameters

        self._stages = {t for n in pipeline.nodes for t in n.tags}
        self._catalog = catalog
        validate_parameters(self._params, stages=self._stages)

    def _check_k(self, period: Any) -> None:
        if "retrieval" not in getattr(self, "_stages", set()):
            return
        from liftrec.pipelines.params import retrieval_config
        from liftrec.recsys.schema import RETRIEVAL

        k = retrieval_config(self._params.get("retrieval"))[0].k
        n = int((np.asarray(period) == RETRIEVAL).sum())
        if k > n:
            raise ConfigError(f"parameter 'retrieval.k': K = {k} exceeds the retrieval set ({n} rows)")

    @hook_impl
    def after_cache_plan(self, plan) -> None:
        """The data stage is reused: its rows table on disk is this run's; read its period column."""
        reused = {d.node.name for d in plan.reused}
        if "sample_negatives" not in reused or self._catalog is None:
            return
        path = getattr(self._catalog.get("rows"), "_filepath", None)
        if path is not None and Path(str(path)).is_file():
            import pyarrow.parquet as pq

            self._check_k(pq.read_table(str(path), columns=["period"]).column("period").to_numpy())

    @hook_impl
    def after_node_run(self, node, inputs: dict[str, Any], outputs: dict[str, Any]) -> None:
        if node.name == "sample_negatives" and "rows" in outputs:
            self._check_k(outputs["rows"]["period"].to_numpy())


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


class MlflowTrackingHook:
    """Parent MLflow run per ``kedro run``, child run per stage.

    A run ends FINISHED, FAILED (an error) or KILLED: Ctrl-C (SIGINT) or SIGTERM bypass Kedro's error
    hook, so an exit handler ends every run still open as KILLED and tags the parent with the stage
    that was running (``interrupted_stage``).
    """

    def __init__(self) -> None:
        self._mlflow = None
        self._stage: str | None = None
        self._node_start: dict[str, float] = {}
        self._params: dict[str, Any] = {}
        self._project_path = Path.cwd()
        self._catalog = None
        self._reuse_tags: dict[str, dict[str, str]] = {}  # stage -> tags naming the runs it reuses
        self._sigterm: Any = None
        self.last_run_id: str | None = None

    @hook_impl
    def after_context_created(self, context) -> None:
        self._project_path = Path(context.project_path)
        self._params = context.params

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        import mlflow

        self._mlflow = mlflow
        self._catalog = catalog
        mlflow.set_tracking_uri(tracking_uri(self._project_path))
        with exclusive(self._project_path, "mlflow-store"):  # two fresh runs must not both create the tables
            mlflow.set_experiment(EXPERIMENT)
        while mlflow.active_run() is not None:  # a run left open by an earlier crash in this process
            mlflow.end_run(status="KILLED")
        names = run_params.get("pipeline_names") or [run_params.get("pipeline_name") or "__default__"]
        dataset = self._params.get("dataset", "?")
        given = cli_params(run_params.get("runtime_params"))
        run = mlflow.start_run(run_name=run_name(names, dataset, self._params.get("seed"), given))
        mlflow.set_tags(
            {
                "pipeline": ",".join(names),
                "dataset": dataset,
                "cli_params": given[:5000],
                "kedro.run_id": str(run_params.get("run_id") or run_params.get("session_id") or ""),
            }
        )
        run_wide = {k: self._params.get(k) for k in ("dataset", "raw_dir", "task", "seed", "device")}
        mlflow.log_params({k: str(v)[:500] for k, v in flatten(run_wide).items()})
        self._parent_id = run.info.run_id
        self.last_run_id = run.info.run_id
        self._stage = None
        if threading.current_thread() is threading.main_thread():  # SIGTERM -> KeyboardInterrupt
            self._sigterm = signal.signal(signal.SIGTERM, _interrupt)
        if not getattr(self, "_exit_registered", False):
            atexit.register(self._on_exit)  # after mlflow's own (atexit is LIFO): ours runs first
            self._exit_registered = True

    def _on_exit(self) -> None:
        """End the runs an interruption left open as KILLED, naming the stage that was running."""
        if self._mlflow is None:
            return
        try:
            self._mlflow.MlflowClient().set_tag(self._parent_id, "interrupted_stage", self._stage or "none")
        except Exception:  # the store may be unreachable at exit: ending the runs matters more
            logger.debug("could not tag the interrupted run", exc_info=True)
        self._close("KILLED")

    def _enter_stage(self, stage: str, node) -> None:
        mlflow = self._mlflow
        if self._stage == stage:
            return
        if self._stage is not None:
            mlflow.end_run()
        mlflow.start_run(run_name=f"{stage} | {self._params.get('dataset', '?')}", nested=True)
        mlflow.set_tags({"stage": stage, "dataset": str(self._params.get("dataset"))})
        mlflow.set_tags(self._reuse_tags.pop(stage, {}))
        self._stage = stage

    @hook_impl
    def after_cache_plan(self, plan) -> None:
        """A stage with reused nodes is tagged ``reused_from=<MLflow run ids that produced them>``;
        a stage that is reused whole gets a child run holding only these tags (liftrec.session)."""
        if self._mlflow is None:
            return
        stage_of = {d.node.name: _stage(d.node) for d in plan.decisions}
        running = {stage_of[name] for name in plan.to_run}
        reused: dict[str, list] = {}
        for d in plan.reused:
            reused.setdefault(stage_of[d.node.name], []).append(d)
        for stage, decisions in reused.items():
            runs = {d.provenance.get("mlflow_run_id") or f"kedro:{d.provenance.get('kedro_run_id', '?')}"
                    for d in decisions}  # fmt: skip
            self._reuse_tags[stage] = {"reused_from": ",".join(sorted(runs)),
                                       "reused_nodes": ",".join(d.node.name for d in decisions)}  # fmt: skip
            if stage not in running:
                self._enter_stage(stage, None)

    @hook_impl
    def cache_provenance(self, node) -> dict[str, str] | None:
        """The MLflow run of the stage that just ran ``node``, kept in its cache entry."""
        run = self._mlflow.active_run() if self._mlflow is not None else None
        return {"mlflow_run_id": run.info.run_id} if run is not None else None

    @hook_impl
    def before_node_run(self, node, inputs: dict[str, Any]) -> None:
        if self._mlflow is None:
            return
        stage = _stage(node)
        self._enter_stage(stage, node)
        params = {k.removeprefix("params:"): v for k, v in inputs.items() if k.startswith("params:")}
        flat = {k: str(v)[:500] for k, v in flatten(params).items()}
        if flat:
            try:
                self._mlflow.log_params(flat)
            except Exception:  # the same key logged by two nodes of a stage with the same value is fine
                logger.debug("parameters already logged for stage %s", stage)
        self._node_start[node.name] = time.perf_counter()

    @hook_impl
    def after_node_run(self, node, inputs: dict[str, Any], outputs: dict[str, Any]) -> None:
        if self._mlflow is None:
            return
        mlflow = self._mlflow
        seconds = time.perf_counter() - self._node_start.pop(node.name, time.perf_counter())
        mlflow.log_metric(mlflow_metric_name(f"seconds.{node.name}"), seconds)
        for name, value in outputs.items():
            short = name.split(".")[-1]
            if short.endswith("metrics") and isinstance(value, dict):
                self._log_metrics(value)
                mlflow.log_dict(value, f"{short}.json")

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any, node) -> None:
        # Kedro saves a node's outputs after ``after_node_run``: files are logged once written.
        if self._mlflow is None or self._catalog is None:
            return
        if not dataset_name.split(".")[-1].endswith(("_plot", "_report")):
            return
        dataset = self._catalog.get(dataset_name)
        path = getattr(dataset, "_path", None) or getattr(dataset, "_filepath", None)
        if path is not None and Path(str(path)).is_file():
            self._mlflow.log_artifact(str(path))

    def _log_metrics(self, metrics: dict[str, Any]) -> None:
        for name, value in flatten(metrics).items():
            key = mlflow_metric_name(name)
            if isinstance(value, bool):
                continue
            if isinstance(value, (int, float)):
                self._mlflow.log_metric(key, float(value))
            elif isinstance(value, list) and value and all(isinstance(v, (int, float)) for v in value):
                for step, v in enumerate(value):
                    self._mlflow.log_metric(key, float(v), step=step)

    def _close(self, status: str) -> None:
        if self._mlflow is None:
            return
        previous = getattr(self, "_sigterm", None)
        if previous is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, previous)
            self._sigterm = None
        while self._mlflow.active_run() is not None:
            self._mlflow.end_run(status=status)
        self._mlflow = None
        self._stage = None
        self._reuse_tags = {}

    @hook_impl
    def after_pipeline_run(self, run_params, run_result, pipeline, catalog) -> None:
        self._close("FINISHED")

    @hook_impl
    def on_pipeline_error(self, error, run_params, pipeline, catalog) -> None:
        self._close("FAILED")


def _headline(metrics: dict[str, Any]) -> str:
    test = metrics.get("test") or {}
    keys = ("HR@10", "NDCG@10", "MRR", "AUC") if "NDCG@10" in test else ("AUC", "LogLoss")
    return ", ".join(f"{k} {test[k]:.4f}" for k in keys if k in test)


class RunSummaryHook:
    """The closing lines of every successful ``kedro run``: headline test metrics beside the popularity
    floor, where the report and the MLflow run are, and what the cache reused.

    Args:
        tracking: the MLflow hook of the same run (it knows the parent run's id).
    """

    def __init__(self, tracking: MlflowTrackingHook | None = None) -> None:
        self._tracking = tracking
        self._project_path = Path.cwd()
        self._reused = self._total = 0

    @hook_impl
    def after_context_created(self, context) -> None:
        self._project_path = Path(context.project_path)
        self._params = context.params

    @hook_impl
    def after_cache_plan(self, plan) -> None:
        self._total, self._reused = len(plan.decisions), len(plan.reused)

    @hook_impl
    def after_pipeline_run(self, run_params, run_result, pipeline, catalog) -> None:
        import click

        dataset = self._params.get("dataset", "?")
        lines = [
            f"liftrec: {'+'.join(run_params.get('pipeline_names') or ['__default__'])} on {dataset} done"
        ]
        outputs = pipeline.all_outputs()
        if "evaluation_metrics" in outputs:
            metrics = catalog.get("evaluation_metrics").load()  # no "Loading data" log line
            line = f"  test ({metrics.get('task')}): {_headline(metrics)}"
            if "reference_metrics" in outputs:
                line += f"  |  popularity floor: {_headline(catalog.get('reference_metrics').load()['pop'])}"
            lines.append(line)
        report = self._project_path / "data" / "08_reporting" / str(dataset)
        if "evaluation_report" in outputs:
            lines.append(f"  report: {report / 'report.md'}")
        elif "experiments_report" in outputs:
            lines.append(f"  report: {report / 'experiments' / 'report.md'}")
        run_id = getattr(self._tracking, "last_run_id", None)
        if run_id:
            lines.append(
                f"  MLflow run {run_id} (experiment '{EXPERIMENT}'): {tracking_uri(self._project_path)}"
            )
        if self._total:
            lines.append(
                f"  cache: {self._reused} of {self._total} nodes reused (--params=cache=false reruns all)"
            )
        click.echo("\n".join(lines))
