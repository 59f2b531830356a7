"""Thin node of the datastore stage."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from liftrec.pipelines.params import build
from liftrec.recsys.data.sequences import WindowConfig
from liftrec.recsys.retrieval.datastore import DatastoreConfig
from liftrec.recsys.schema import Schema
from liftrec.recsys.workflows.context import encode_contexts
from liftrec.recsys.workflows.pretrain import load_encoder


def encode_datastore(
    encoder: dict[str, Any],
    rows: pd.DataFrame,
    windows: dict[str, np.ndarray],
    schema: dict[str, Any],
    datastore: dict[str, Any],
    window_params: dict[str, Any],
    device: str,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, Any]]:
    """Encode every retrieval row's history and future, and each target's own history, once.

    Returns:
        The datastore arrays, the targets' own-history arrays and the stage metrics.
    """
    cfg = build(DatastoreConfig, {"device": device, **(datastore or {})}, "datastore")
    length = build(WindowConfig, window_params, "windows").length
    return encode_contexts(load_encoder(encoder), rows, windows, Schema.from_dict(schema), length, cfg)
