"""Raw ingestion -> temporal split -> negatives -> sequence windows."""

from liftrec.pipelines.data_processing.pipeline import create_pipeline

__all__ = ["create_pipeline"]
