"""Thin node of the pretraining stage."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from liftrec.pipelines.params import build, checkpoint_dir
from liftrec.recsys.data.sequences import WindowConfig
from liftrec.recsys.schema import Schema
from liftrec.recsys.workflows.pretrain import PretrainStageConfig, pretrain_encoder


def pretrain(
    rows: pd.DataFrame,
    windows: dict[str, np.ndarray],
    schema: dict[str, Any],
    pretrain: dict[str, Any],
    window_params: dict[str, Any],
    dataset: str,
    seed: int,
    device: str,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Pretrain the encoder with the mask-behaviour loss (or initialise it randomly when disabled).

    Returns:
        The encoder package (state dict + config) and the stage metrics (loss curve, held-out AUC).
    """
    cfg = build(PretrainStageConfig, pretrain_params(pretrain, device), "pretrain")
    length = build(WindowConfig, window_params, "windows").length
    params = {"pretrain": pretrain, "windows": window_params}
    inputs = {"rows": rows, "windows": windows, "schema": schema}
    ckpt = checkpoint_dir(dataset, "pretrain", params, seed, inputs, code=pretrain_encoder)
    return pretrain_encoder(rows, windows, Schema.from_dict(schema), cfg, length, seed, ckpt)


def pretrain_params(pretrain: dict[str, Any], device: str) -> dict[str, Any]:
    """The run-wide ``device`` applies unless ``pretrain.training.device`` sets one."""
    training = {"device": device, **(pretrain.get("training") or {})}
    return {**pretrain, "training": training}
