"""Wiring of the retrieval stage."""

from kedro.pipeline import Pipeline, node, pipeline

from liftrec.pipelines.retrieval.nodes import retrieve_neighbours


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(
                retrieve_neighbours,
                ["rows", "windows", "schema", "params:retrieval"],
                ["retrieved", "retrieval_metrics"],
                name="retrieve_neighbours",
            )
        ],
        tags="retrieval",
    )
