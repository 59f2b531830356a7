"""Project pipelines: each stage is registered with its upstream needs, so each runs from a fresh clone."""

from __future__ import annotations

import importlib

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

    def stage(name: str) -> Pipeline:
        # Kedro >= 1.6 discovers only the pipelines named on the command line; upstream stages
        # that were filtered out of discovery are built from their modules directly.
        if name in found:
            return found[name]
        return importlib.import_module(f"liftrec.pipelines.{name}").create_pipeline()

    pipelines: dict[str, Pipeline] = {}
    upstream = Pipeline([])
    for name in STAGES:
        upstream = upstream + stage(name)
        pipelines[name] = upstream
    pipelines["__default__"] = upstream
    # the paper's experiments share the data, encoder, datastore and retrieval stages with the method
    shared = pipelines["retrieval"]
    pipelines["experiments"] = shared + stage("experiments")
    return pipelines
