"""Wiring of the evaluation stage."""

from kedro.pipeline import Pipeline, node, pipeline

from liftrec.pipelines.evaluate.nodes import (
    compute_metrics,
    plot_training_curves,
    score_reference,
    score_targets,
    write_report,
)


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(
                score_targets,
                [
                    "predictor",
                    "rows",
                    "schema",
                    "retrieved",
                    "datastore",
                    "target_history",
                    "params:train",
                    "params:device",
                ],
                "predictions",
                name="score_targets",
            ),
            node(
                compute_metrics,
                ["predictions", "params:dataset", "params:datasets", "params:task"],
                "evaluation_metrics",
                name="compute_metrics",
            ),
            node(
                score_reference,
                ["evaluation_metrics", "rows", "schema", "params:dataset", "params:datasets", "params:task"],
                "reference_metrics",
                name="score_reference",
            ),
            node(
                write_report,
                ["evaluation_metrics", "reference_metrics", "params:dataset", "params:seed", "params:train"],
                "evaluation_report",
                name="write_report",
            ),
            node(
                plot_training_curves,
                ["pretrain_metrics", "train_metrics"],
                "training_curves_plot",
                name="plot_training_curves",
            ),
        ],
        tags="evaluate",
    )
