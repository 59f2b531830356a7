"""Wiring of the predictor-training stage."""

from kedro.pipeline import Pipeline, node, pipeline

from liftrec.pipelines.train.nodes import train


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(
                train,
                [
                    "rows",
                    "schema",
                    "retrieved",
                    "datastore",
                    "target_history",
                    "params:train",
                    "params:dataset",
                    "params:seed",
                    "params:device",
                ],
                ["predictor", "train_metrics"],
                name="train_predictor",
            )
        ],
        tags="train",
    )
