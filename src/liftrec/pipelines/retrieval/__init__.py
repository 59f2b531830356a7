"""BM25 retrieval of similar retrieval-set rows for every target."""

from liftrec.pipelines.retrieval.pipeline import create_pipeline

__all__ = ["create_pipeline"]
