"""Offline datastore: encoded histories and futures of retrieval rows."""

from liftrec.pipelines.datastore.pipeline import create_pipeline

__all__ = ["create_pipeline"]
