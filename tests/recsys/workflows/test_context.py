"""Retrieval for targets: the ``min_future`` neighbour filter."""

from __future__ import annotations

import numpy as np
import pytest

from liftrec.recsys.errors import ConfigError
from liftrec.recsys.retrieval.bm25 import BM25Config
from liftrec.recsys.schema import PERIOD, RETRIEVAL
from liftrec.recsys.workflows.context import retrieve_for_targets


def test_min_future_keeps_only_neighbours_with_a_future(tiny_stages: dict) -> None:
    rows, schema, windows = tiny_stages["rows"], tiny_stages["schema"], tiny_stages["windows"]
    fut_len = windows["fut_hi"] - windows["fut_lo"]
    plain, _ = retrieve_for_targets(rows, schema, BM25Config(k=4))
    got, metrics = retrieve_for_targets(rows, schema, BM25Config(k=4), windows=windows, min_future=3)
    found = got["row_ids"][got["row_ids"] >= 0]
    assert (fut_len[found] >= 3).all() and (rows[PERIOD].to_numpy()[found] == RETRIEVAL).all()
    assert (fut_len[plain["row_ids"][plain["row_ids"] >= 0]] < 3).any()  # the filter had work to do
    np.testing.assert_array_equal(got["target_ids"], plain["target_ids"])  # same targets either way
    assert metrics["min_future"] == 3 and metrics["retrieval_rows"] == int(
        ((fut_len >= 3) & (rows[PERIOD] == RETRIEVAL)).sum()
    )


def test_min_future_errors_name_the_parameter(tiny_stages: dict) -> None:
    rows, schema, windows = tiny_stages["rows"], tiny_stages["schema"], tiny_stages["windows"]
    with pytest.raises(ConfigError, match="min_future': needs the windows"):
        retrieve_for_targets(rows, schema, BM25Config(k=4), min_future=2)
    with pytest.raises(ConfigError, match=r"retrieval.k.*with a future of >= 1000"):
        retrieve_for_targets(rows, schema, BM25Config(k=4), windows=windows, min_future=1000)
