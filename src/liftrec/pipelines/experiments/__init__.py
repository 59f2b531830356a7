"""The paper's experiments: every model over seeds, LIFT's ablations and sweeps, tables and figures."""

from liftrec.pipelines.experiments.pipeline import create_pipeline

__all__ = ["create_pipeline"]
