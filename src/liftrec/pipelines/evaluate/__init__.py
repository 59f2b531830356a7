"""Scoring of valid/test targets, metrics and the report."""

from liftrec.pipelines.evaluate.pipeline import create_pipeline

__all__ = ["create_pipeline"]
