"""Wiring of the node cache into Kedro: a session class that gives every run a caching runner.

Kedro 1.7 offers no hook that can drop a node (``before_pipeline_run`` sees the pipeline but the
session hands the runner its own reference), so the plan is applied by the runner, and the runner
is chosen by the session: ``settings.SESSION_CLASS = CachingSession`` makes plain ``kedro run`` (and
``--runner=...``, ``--pipelines``, the slicing flags) cache. See docs/caching.md.

Other hooks learn about the cache through two extra hook specs (``CacheSpecs``): the MLflow hook tags
reused stages and tells the cache which MLflow run produced a node's outputs.
"""

from __future__ import annotations

import inspect
import logging
import threading
from functools import cache
from pathlib import Path
from typing import Any

from kedro.framework.hooks.manager import _create_hook_manager
from kedro.framework.hooks.markers import hook_impl, hook_spec
from kedro.framework.session import KedroSession
from kedro.pipeline import Pipeline
from kedro.runner import AbstractRunner, ParallelRunner, SequentialRunner

from liftrec.caching import CachePlan, Decision, NodeCache, is_param
from liftrec.runlock import remove_interrupted_saves, run_lock

logger = logging.getLogger(__name__)


class CacheSpecs:
    """Hook specs the caching runner calls, besides Kedro's own."""

    @hook_spec
    def after_cache_plan(self, plan: CachePlan) -> None:
        """Called once per run, before any node runs, with the decision for every node of the run."""

    @hook_spec
    def cache_provenance(self, node: Any) -> dict[str, str] | None:
        """Extra provenance recorded with a finished node's entry (e.g. the MLflow run that ran it)."""


def _ensure_specs(hook_manager: Any) -> None:
    caller = getattr(hook_manager.hook, "after_cache_plan", None)
    if caller is None or not caller.has_spec():
        hook_manager.add_hookspecs(CacheSpecs)


class _Recorder:
    """Records a node once all its outputs are saved; a node that starts running loses its old entry."""

    def __init__(self, cache: NodeCache, hook_manager: Any) -> None:
        self._cache = cache
        self._hooks = hook_manager
        self._pending: dict[str, tuple[dict[str, Any], set[str], str, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    @hook_impl
    def before_node_run(self, node: Any, inputs: dict[str, Any], run_id: str) -> None:
        self._cache.manifest.drop(node.name)  # a failure from here on leaves no entry
        if inspect.isgeneratorfunction(node.func):  # outputs saved in chunks: no "all saved" moment
            return
        params = {k: v for k, v in inputs.items() if is_param(k)}
        parts = self._cache.parts(node, params)
        with self._lock:
            self._pending[node.name] = (parts, set(node.outputs), run_id, params)
        if not node.outputs:
            self._finish(node)

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, node: Any) -> None:
        with self._lock:
            pending = self._pending.get(node.name)
            if pending is None:
                return
            pending[1].discard(dataset_name)
            done = not pending[1]
        if done:
            self._finish(node)

    def _finish(self, node: Any) -> None:
        with self._lock:
            parts, _, run_id, params = self._pending.pop(node.name)
        provenance: dict[str, Any] = {"kedro_run_id": run_id}
        for extra in self._hooks.hook.cache_provenance(node=node):
            provenance.update(extra or {})
        self._cache.record(node, parts, provenance, params)

    @hook_impl
    def on_node_error(self, node: Any) -> None:
        with self._lock:
            self._pending.pop(node.name, None)


class CachingRunnerMixin:
    """Runs only the nodes whose fingerprint changed (and their downstream); records what ran."""

    project_path: Path | None = None

    def run(
        self,
        pipeline: Pipeline,
        catalog: Any,
        hook_manager: Any = None,
        run_id: str | None = None,
        only_missing_outputs: bool = False,
    ) -> dict[str, Any]:
        hook_manager = hook_manager or _create_hook_manager()
        _ensure_specs(hook_manager)
        cache = NodeCache(catalog, self.project_path or Path.cwd())
        plan = cache.plan(pipeline)
        selected = pipeline.filter(node_names=plan.to_run) if plan.to_run else Pipeline([])
        if only_missing_outputs:  # Kedro's own rule, applied here so the plan says exactly what runs
            selected = self._filter_pipeline_for_missing_outputs(selected, catalog)  # type: ignore
            plan = _only_missing(plan, {n.name for n in selected.nodes}, cache)
        _log_plan(plan)
        hook_manager.hook.after_cache_plan(plan=plan)

        if isinstance(self, ParallelRunner):  # nodes run in subprocesses, out of this recorder's reach
            for name in plan.to_run:
                cache.manifest.drop(name)
            result = super().run(selected, catalog, hook_manager, run_id)  # type: ignore[misc]
            for node in selected.nodes:  # all outputs are saved once run() returns
                cache.record(node, cache.parts(node), {"kedro_run_id": run_id})
            return result

        recorder = _Recorder(cache, hook_manager)
        hook_manager.register(recorder)
        try:
            return super().run(selected, catalog, hook_manager, run_id)  # type: ignore[misc]
        finally:
            hook_manager.unregister(recorder)


def _only_missing(plan: CachePlan, kept: set[str], cache: NodeCache) -> CachePlan:
    """The plan once ``--only-missing-outputs`` has dropped the nodes outside ``kept``."""
    out = []
    for d in plan.decisions:
        if d.run and d.node.name not in kept:
            prov = dict((cache.manifest.get(d.node.name) or {}).get("provenance", {}))
            d = Decision(d.node, False, "outputs exist (--only-missing-outputs)", prov)
        out.append(d)
    return CachePlan(out)


def _log_plan(plan: CachePlan) -> None:
    for d in plan.decisions:
        if d.run:
            logger.info("Cache: running node %s (%s)", d.node.name, d.reason)
        else:
            logger.info("Cache: skipped node %s (%s)", d.node.name, d.reason)
    logger.info("Cache: %d of %d nodes reused, %d to run",
                len(plan.reused), len(plan.decisions), len(plan.to_run))  # fmt: skip


@cache
def caching_runner_class(base: type[AbstractRunner]) -> type[AbstractRunner]:
    """``base`` with the cache in front of it (keeps ``isinstance`` checks such as ParallelRunner's)."""

    def __repr__(self: AbstractRunner) -> str:
        # Kedro records str(runner) in run_params; kedro-viz's workflow tracking recognises a
        # sequential run by the base class's default repr, which a caching subclass keeps.
        return f"<{base.__module__}.{base.__qualname__} object at {hex(id(self))}> (cached)"

    return type(
        f"Caching{base.__name__}", (CachingRunnerMixin, base), {"__module__": __name__, "__repr__": __repr__}
    )


def with_cache(runner: AbstractRunner, project_path: Path | None = None) -> AbstractRunner:
    """A caching copy of ``runner`` (same settings); ``runner`` itself is left as it is."""
    if isinstance(runner, CachingRunnerMixin):
        return runner
    cls = caching_runner_class(type(runner))
    cached = cls.__new__(cls)
    cached.__dict__.update(runner.__dict__)
    cached.project_path = project_path
    return cached


CachingRunner = caching_runner_class(SequentialRunner)


class CachingSession(KedroSession):
    """A ``KedroSession`` whose runs skip unchanged nodes (opt out with ``--params=cache=false``)."""

    def run(  # noqa: PLR0913
        self,
        pipeline_name: str | None = None,
        pipeline_names: list[str] | None = None,
        tags: Any = None,
        runner: AbstractRunner | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        runner = with_cache(runner or SequentialRunner(), self._project_path)
        dataset = str(self.load_context().params.get("dataset", "default"))
        with run_lock(self._project_path, dataset):  # one run per dataset's outputs at a time
            for tmp in remove_interrupted_saves(self._project_path, dataset):
                logger.info("removed %s, left by an interrupted save", tmp)
            return super().run(pipeline_name, pipeline_names, tags, runner, **kwargs)
