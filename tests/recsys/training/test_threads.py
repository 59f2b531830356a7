"""numba's and LightGBM's OpenMP regions must not change torch's thread count (shared libgomp)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from liftrec.recsys.retrieval.bm25 import BM25Config, BM25Index
from liftrec.recsys.training.device import keep_torch_threads


def test_keep_torch_threads_restores_the_count() -> None:
    before = torch.get_num_threads()

    @keep_torch_threads
    def greedy() -> str:
        torch.set_num_threads(before + 1)
        return "done"

    assert greedy() == "done" and torch.get_num_threads() == before


def test_bm25_search_and_gbdt_leave_torch_threads_alone() -> None:
    before = torch.get_num_threads()
    rng = np.random.default_rng(0)
    keys = rng.integers(1, 20, size=(5000, 3))
    n = len(keys)
    cfg = BM25Config(k=5, threads=2, query_batch=64)
    index = BM25Index.build(keys, np.arange(n), rng.integers(1, 50, n), np.arange(n), cfg)
    index.search(keys[:500], query_users=np.full(500, 999), max_ts=np.full(500, n))
    assert torch.get_num_threads() == before
    pytest.importorskip("lightgbm")
    from liftrec.recsys.models.gbdt import GBDTConfig, GBDTModel

    y = (keys[:, 0] > 10).astype(int)
    GBDTModel(GBDTConfig(n_estimators=5, num_threads=2)).fit(keys, y).predict_proba(keys)
    assert torch.get_num_threads() == before
