"""Training of the LIFT predictor on the train period."""

from liftrec.pipelines.train.pipeline import create_pipeline

__all__ = ["create_pipeline"]
