"""Mask-behaviour pretraining of the sequence encoder."""

from liftrec.pipelines.pretrain.pipeline import create_pipeline

__all__ = ["create_pipeline"]
