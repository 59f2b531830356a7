"""Inference time per 1,000 requests (the paper's RQ5 / Figure 5): retrieval online vs precomputed.

A request is one target row to score. For each model, batches of ``batch`` requests are timed end to
end on the CPU (or the run's device):

* ``precomputed``: the retrieval stage's stored top-K ids (the paper's offline retrieval), batch
  assembly (keys, datastore vectors, histories) and the forward pass;
* ``online``: the same plus the BM25 search of the batch's queries over the retrieval set.

Models that retrieve nothing (e.g. BERT4Rec) time the same in both modes (only ``precomputed`` is
measured). Weights do not change the cost, so the models are built with their default parameters
and a fixed seed: this needs no trained model and times exactly the production code path.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import torch

from liftrec.recsys.models.batch import model_inputs
from liftrec.recsys.models.registry import MODELS, build_model
from liftrec.recsys.retrieval.bm25 import BM25Config, make_retriever
from liftrec.recsys.schema import ROW_ID, TEST, TS, USER_ID
from liftrec.recsys.training.device import move_batch, resolve_device
from liftrec.recsys.training.seed import torch_seed
from liftrec.recsys.workflows.context import indexed_rows
from liftrec.recsys.workflows.models import ModelData, Targets, batches_for, model_config, select_targets

logger = logging.getLogger(__name__)


def _time(model: torch.nn.Module, name: str, cfg: Any, data: ModelData, t: Targets, batch: int,
          device: torch.device, search=None) -> float:  # fmt: skip
    """Seconds to score targets ``t`` (``search(ids) -> ret_ids`` first when given: online retrieval)."""
    start = time.perf_counter()
    with torch.inference_mode():
        for lo in range(0, len(t.row_ids), batch):
            part = Targets(t.row_ids[lo : lo + batch],
                           None if t.ret_ids is None else t.ret_ids[lo : lo + batch],
                           None if t.own_hist is None else t.own_hist[lo : lo + batch])  # fmt: skip
            if search is not None:
                part.ret_ids = search(part.row_ids)
            for b in batches_for(name, cfg, data, part, batch, shuffle=False, seed=0):
                model.predict(move_batch(b, device))
    return time.perf_counter() - start


def inference_times(
    models: tuple[str, ...],
    data: ModelData,
    bm25: BM25Config,
    query_fields: tuple[str, ...],
    *,
    requests: int = 2000,
    batch: int = 256,
    device: str = "cpu",
    seed: int = 0,
    min_future: int = 0,
) -> dict[str, Any]:
    """Milliseconds per 1,000 requests of each model, retrieval online and precomputed.

    Args:
        models: registry names to time.
        data: the stage outputs (retrieval results and datastore needed by retrieval models).
        bm25: the retrieval parameters (the index is built once, not timed).
        query_fields: the fields forming the query.
        requests: test targets to score (the first ones in row order).
        batch: requests per batch, equal for every model.
        device: where the models run.
        seed: initialisation of the default-parameter models.
        min_future: the retrieval stage's ``min_future`` (the same rows are indexed).

    Returns:
        {"requests", "batch", "index_seconds", "models": {name: {"precomputed_ms_per_1k",
        "online_ms_per_1k" (retrieval models only)}}}.
    """
    dev = resolve_device(device)
    t = select_targets(data, (TEST,))
    n = min(requests, len(t.row_ids))
    t = Targets(
        t.row_ids[:n],
        None if t.ret_ids is None else t.ret_ids[:n],
        None if t.own_hist is None else t.own_hist[:n],
    )
    rows = data.rows
    fields = list(data.schema.fields)
    keys = rows[list(query_fields)].to_numpy(np.int64)
    ret = indexed_rows(rows, None if data.windows is None else dict(data.windows), min_future)
    ids, users, ts = (rows[c].to_numpy(np.int64) for c in (ROW_ID, USER_ID, TS))
    t0 = time.perf_counter()
    index = make_retriever("engine", keys[ret], ids[ret], users[ret], ts[ret], bm25)
    index_seconds = time.perf_counter() - t0
    K = t.ret_ids.shape[1] if t.ret_ids is not None else bm25.k

    def search(target_ids: np.ndarray) -> np.ndarray:
        return index.search(
            keys[target_ids], query_users=users[target_ids], max_ts=ts[target_ids], k=K
        ).row_ids

    out: dict[str, Any] = {"requests": n, "batch": batch, "index_seconds": index_seconds, "device": str(dev),
                           "fields": fields, "models": {}}  # fmt: skip
    for name in models:
        cfg = model_config(name, None)
        with torch_seed(seed):
            model = build_model(name, cfg, **data.context(), seed=seed).to(dev).eval()
        _time(model, name, cfg, data, Targets(t.row_ids[:batch], *(None if a is None else a[:batch]
              for a in (t.ret_ids, t.own_hist))), batch, dev)  # warm-up  # fmt: skip
        res = {"precomputed_ms_per_1k": 1e6 * _time(model, name, cfg, data, t, batch, dev) / max(n, 1)}
        if model_inputs(MODELS[name]) & {"keys", "context"}:
            res["online_ms_per_1k"] = 1e6 * _time(model, name, cfg, data, t, batch, dev, search) / max(n, 1)
        out["models"][name] = res
        logger.info("inference %s: %s", name, res)
    return out
