"""Wiring of the pretraining stage."""

from kedro.pipeline import Pipeline, node, pipeline

from liftrec.pipelines.pretrain.nodes import pretrain


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(
                pretrain,
                [
                    "rows",
                    "windows",
                    "schema",
                    "params:pretrain",
                    "params:windows",
                    "params:dataset",
                    "params:seed",
                    "params:device",
                ],
                ["encoder", "pretrain_metrics"],
                name="pretrain_encoder",
            )
        ],
        tags="pretrain",
    )
