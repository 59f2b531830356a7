"""Retrieval for targets: the ``min_future`` neighbour filter and the neighbours' time metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from liftrec.recsys.errors import ConfigError
from liftrec.recsys.retrieval.bm25 import BM25Config
from liftrec.recsys.schema import LABEL, PERIOD, RETRIEVAL, ROW_ID, TRAIN, TS
from liftrec.recsys.workflows.context import neighbour_metrics, retrieve_for_targets


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


def test_neighbour_metrics_by_hand() -> None:
    rows = pd.DataFrame({ROW_ID: np.arange(5), TS: [10, 20, 20, 30, 40], LABEL: [1, 1, 0, 1, 1],
                         PERIOD: [RETRIEVAL] * 4 + [TRAIN]})  # fmt: skip
    # futures (pool = every row): row 0 -> rows 1, 2; row 1 -> row 2; row 2 -> row 3; row 3 none
    windows = {
        "pool_index": np.arange(5),
        "fut_lo": np.array([1, 2, 3, 4, 5]),
        "fut_hi": np.array([3, 3, 4, 4, 5]),
    }
    got = neighbour_metrics(rows, np.array([[0, 3], [2, -1]]), windows)
    # mid-rank ts quantiles among 10, 20, 20, 30: 1/8, 7/8 and (1 + 3)/8
    assert got["neighbour_ts_quantile"] == pytest.approx((0.125 + 0.875 + 0.5) / 3)
    assert got["neighbour_ts_quantile_p50"] == pytest.approx(0.5)
    assert got["mean_future_positives"] == pytest.approx(2 / 3)  # rows 0, 3, 2: 1 + 0 + 1 real
    assert got["baseline_future_positives"] == pytest.approx(2 / 3)  # rows 0, 1, 2 have a future
    assert got["future_positives_ratio"] == pytest.approx(1.0) and got[
        "neighbour_no_future"
    ] == pytest.approx(1 / 3)
    shifted = rows.assign(**{ROW_ID: rows[ROW_ID] + 100})  # ids that are not positions: ts figures only
    other = neighbour_metrics(shifted, np.array([[100, 103], [102, -1]]))
    assert other == {k: v for k, v in got.items() if k.startswith("neighbour_ts")}
    assert neighbour_metrics(rows, np.full((2, 2), -1), windows) == {}


def test_shuffled_ties_pick_neighbours_across_the_period(tiny_stages: dict) -> None:
    rows, schema, windows = tiny_stages["rows"], tiny_stages["schema"], tiny_stages["windows"]
    m = {tie: retrieve_for_targets(rows, schema, BM25Config(k=4, tie_break=tie), windows=windows)[1]
         for tie in ("latest", "shuffled")}  # fmt: skip
    assert m["latest"]["neighbour_ts_quantile"] > 0.7  # ties go to the end of the period (0.77 here)
    assert abs(m["shuffled"]["neighbour_ts_quantile"] - 0.5) < 0.1  # 0.51 here
    assert m["shuffled"]["future_positives_ratio"] > m["latest"]["future_positives_ratio"] + 0.1  # 0.97, 0.70
    assert m["shuffled"]["baseline_future_positives"] == m["latest"]["baseline_future_positives"] > 0
