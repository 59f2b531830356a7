"""Wiring of the datastore stage."""

from kedro.pipeline import Pipeline, node, pipeline

from liftrec.pipelines.datastore.nodes import encode_datastore


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(
                encode_datastore,
                [
                    "encoder",
                    "rows",
                    "windows",
                    "schema",
                    "params:datastore",
                    "params:windows",
                    "params:device",
                ],
                ["datastore", "target_history", "datastore_metrics"],
                name="encode_datastore",
            )
        ],
        tags="datastore",
    )
