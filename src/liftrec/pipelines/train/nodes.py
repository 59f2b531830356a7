"""Thin node of the predictor-training stage."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from liftrec.pipelines.params import build, checkpoint_dir
from liftrec.recsys.schema import Schema
from liftrec.recsys.workflows.predict import PredictorStageConfig, train_predictor


def train(
    rows: pd.DataFrame,
    schema: dict[str, Any],
    retrieved: dict[str, np.ndarray],
    datastore: dict[str, np.ndarray],
    target_history: dict[str, np.ndarray],
    train: dict[str, Any],
    dataset: str,
    seed: int,
    device: str,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train the predictor (encoder frozen) with early stopping on the validation AUC.

    Returns:
        The predictor package and the stage metrics.
    """
    cfg = build(PredictorStageConfig, predictor_params(train, device), "train")
    inputs = {"rows": rows, "schema": schema, "retrieved": retrieved, "datastore": datastore,
              "target_history": target_history}  # fmt: skip
    ckpt = checkpoint_dir(dataset, "train", {"train": train}, seed, inputs, code=train_predictor)
    return train_predictor(
        rows, Schema.from_dict(schema), retrieved, datastore, target_history, cfg, seed, ckpt
    )


def predictor_params(train: dict[str, Any], device: str) -> dict[str, Any]:
    """The run-wide ``device`` applies unless ``train.training.device`` sets one."""
    return {**train, "training": {"device": device, **(train.get("training") or {})}}
