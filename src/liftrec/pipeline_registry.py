"""Project pipelines: each stage is registered with what it needs upstream, so each runs from a fresh clone."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

# Stage order of the method; a stage's registered pipeline includes every stage before it.
STAGES = ("data_processing", "pretrain", "datastore", "retrieval", "train", "evaluate")


def register_pipelines() -> dict[str, Pipeline]:
    """Register each stage with its upstream stages, and ``__default__`` as the whole method.

    Returns:
        A mapping from pipeline names to ``Pipeline`` objects.
    """
    found = find_pipelines(raise_errors=True)
    pipelines: dict[str, Pipeline] = {}
    upstream = Pipeline([])
    for stage in STAGES:
        if stage not in found:
            continue
        upstream = upstream + found[stage]
        pipelines[stage] = upstream
    pipelines["__default__"] = upstream
    return pipelines
