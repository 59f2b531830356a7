"""Thin node of the retrieval stage."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from liftrec.pipelines.params import retrieval_config
from liftrec.recsys.schema import Schema, query_fields_of
from liftrec.recsys.workflows.context import retrieve_for_targets


def retrieve_neighbours(
    rows: pd.DataFrame, windows: dict[str, np.ndarray], schema: dict[str, Any], retrieval: dict[str, Any]
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """BM25 top-K retrieval-set rows for every train / valid / test target (offline retrieval).

    Returns:
        The retrieval results (target ids, retrieved row ids, scores) and the stage metrics.
    """
    cfg, engine, query_fields, min_future = retrieval_config(retrieval)
    sch = Schema.from_dict(schema)
    fields = query_fields_of(sch, query_fields)
    return retrieve_for_targets(rows, sch, cfg, engine=engine, query_fields=fields, windows=windows,
                                min_future=min_future)  # fmt: skip
