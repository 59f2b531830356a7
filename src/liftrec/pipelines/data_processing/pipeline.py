"""Wiring of the data stage."""

from kedro.pipeline import Pipeline, node, pipeline

from liftrec.pipelines.data_processing.nodes import (
    add_negatives,
    ingest_interactions,
    make_windows,
    split_interactions,
)


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(
                ingest_interactions,
                ["params:dataset", "params:raw_dir", "params:ingest", "params:synthetic", "params:seed"],
                ["interactions", "schema"],
                name="ingest_interactions",
            ),
            node(
                split_interactions,
                ["interactions", "schema", "params:dataset", "params:datasets", "params:split"],
                ["split_interactions", "split_metrics"],
                name="split_by_time",
            ),
            node(
                add_negatives,
                [
                    "split_interactions",
                    "schema",
                    "params:dataset",
                    "params:datasets",
                    "params:task",
                    "params:negatives",
                    "params:seed",
                ],
                ["rows", "negatives_metrics"],
                name="sample_negatives",
            ),
            node(
                make_windows, ["rows", "params:windows"], ["windows", "windows_metrics"], name="build_windows"
            ),
        ],
        tags="data_processing",
    )
