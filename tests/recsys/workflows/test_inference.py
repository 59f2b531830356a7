"""Inference time per 1,000 requests on tiny stage outputs: retrieval precomputed vs online."""

from __future__ import annotations

import numpy as np

from liftrec.recsys.retrieval.bm25 import BM25Config
from liftrec.recsys.schema import TEST
from liftrec.recsys.workflows.inference import inference_times
from liftrec.recsys.workflows.models import select_targets


def test_every_model_is_timed_and_retrieval_models_also_online(tiny_data):
    fields = tuple(tiny_data.schema.query_fields)
    out = inference_times(
        ("lift", "rim", "bert4rec"), tiny_data, BM25Config(k=4), fields, requests=40, batch=16, device="cpu"
    )
    n_test = len(select_targets(tiny_data, (TEST,)).row_ids)
    assert out["requests"] == min(40, n_test) and out["batch"] == 16 and out["device"] == "cpu"
    assert out["index_seconds"] >= 0 and out["fields"] == list(tiny_data.schema.fields)
    assert list(out["models"]) == ["lift", "rim", "bert4rec"]
    for name in ("lift", "rim"):
        t = out["models"][name]
        assert set(t) == {"precomputed_ms_per_1k", "online_ms_per_1k"}
        assert t["precomputed_ms_per_1k"] > 0 and t["online_ms_per_1k"] >= 0
    assert set(out["models"]["bert4rec"]) == {"precomputed_ms_per_1k"}  # retrieves nothing: no online mode
    assert all(np.isfinite(v) for m in out["models"].values() for v in m.values())


def test_more_requests_than_test_targets_are_capped(tiny_data):
    n_test = len(select_targets(tiny_data, (TEST,)).row_ids)
    out = inference_times(
        ("din",), tiny_data, BM25Config(k=4), ("item",), requests=10**6, batch=256, device="cpu"
    )
    assert out["requests"] == n_test and set(out["models"]["din"]) == {"precomputed_ms_per_1k"}


def test_online_search_finds_the_precomputed_neighbours(tiny_data, monkeypatch):
    """The online mode times the same work: its BM25 search returns the retrieval stage's top-K."""
    from liftrec.recsys.workflows import inference

    searched: list = []
    real = inference._time

    def spy(model, name, cfg, data, t, batch, device, search=None):
        if search is not None:
            searched.append((t.row_ids, t.ret_ids, search(t.row_ids)))
        return real(model, name, cfg, data, t, batch, device, search)

    monkeypatch.setattr(inference, "_time", spy)
    inference_times(
        ("rim",),
        tiny_data,
        BM25Config(k=4),
        tuple(tiny_data.schema.query_fields),
        requests=30,
        batch=8,
        device="cpu",
    )
    ((ids, stored, online),) = searched
    assert len(ids) == 30
    np.testing.assert_array_equal(online, stored)
