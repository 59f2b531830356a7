"""The paper's LIFT sweeps: encoder table (Table 4), mask ratio (Figure 4), K (Figure 7), L (Figure 8).

Each point reruns only what its parameter changes and reuses the rest: the K sweep trains on
prefixes of the one top-K retrieval (BM25's top-k is the top-K's first k rows); the mask-ratio and
encoder sweeps re-pretrain and re-encode but keep the data, windows and retrieval; the L sweep also
rebuilds the windows. A point equal to the run's own configuration reuses the run's encoder and
datastore instead of recomputing them.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from liftrec.recsys.data.sequences import WindowConfig, build_windows
from liftrec.recsys.retrieval.datastore import DatastoreConfig
from liftrec.recsys.schema import Schema
from liftrec.recsys.workflows.context import encode_contexts
from liftrec.recsys.workflows.experiments import ExperimentsConfig, Task
from liftrec.recsys.workflows.models import ModelData, load_model, score_model, train_model
from liftrec.recsys.workflows.predict import PredictorStageConfig, evaluate_predictions
from liftrec.recsys.workflows.pretrain import PretrainStageConfig, load_encoder, pretrain_encoder

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class SweepInputs:
    """What every sweep shares: the data, the run's own stage outputs and stage configs."""

    rows: pd.DataFrame
    schema: Schema
    windows: Mapping[str, np.ndarray]
    retrieved: Mapping[str, np.ndarray]
    datastore: Mapping[str, np.ndarray]
    target_hist: Mapping[str, np.ndarray]
    length: int
    window_cfg: WindowConfig
    pretrain: PretrainStageConfig
    store_cfg: DatastoreConfig
    predictor: PredictorStageConfig
    task: Task
    seed: int  # the run's seed: pretraining and data


def _evaluate_lift(
    data: ModelData, s: SweepInputs, cfg: ExperimentsConfig, k: int | None = None
) -> dict[str, Any]:
    """LIFT trained and tested on ``data`` for each sweep seed: per-seed test / valid metrics."""
    out: dict[str, Any] = {}
    p = s.predictor
    for seed in cfg.sweep_seeds:
        package, m = train_model(p.model, p.lift, p.training, data, seed, k=k)
        pred = score_model(load_model(package, p.training.device), package, data, 4 * p.training.batch_size)
        metrics = evaluate_predictions(pred, s.task)
        out[str(seed)] = {"test": metrics["test"], "valid": metrics["valid"], "train_seconds": m["seconds"]}
    return out


def _contexts(s: SweepInputs, pretrain: PretrainStageConfig, windows: Mapping[str, np.ndarray], length: int):
    package, pm = pretrain_encoder(s.rows, dict(windows), s.schema, pretrain, length, s.seed)
    store, own, _ = encode_contexts(
        load_encoder(package), s.rows, dict(windows), s.schema, length, s.store_cfg
    )
    return store, own, pm


def _point(s: SweepInputs, cfg: ExperimentsConfig, pretrain: PretrainStageConfig, value: Any,
           windows: Mapping[str, np.ndarray] | None = None,
           length: int | None = None) -> dict[str, Any]:  # fmt: skip
    t0 = time.perf_counter()
    windows, length = windows or s.windows, length or s.length
    if pretrain == s.pretrain and length == s.length:  # the run's own configuration: reuse its outputs
        store, own, pm = s.datastore, s.target_hist, {"reused": True}
    else:
        store, own, pm = _contexts(s, pretrain, windows, length)
    data = ModelData(s.rows, s.schema, windows=windows, length=length, retrieved=s.retrieved, datastore=store,
                     target_hist=own)  # fmt: skip
    seeds = _evaluate_lift(data, s, cfg)
    logger.info("sweep point %s done in %.0f s", value, time.perf_counter() - t0)
    return {"value": value, "pretrain_masked_auc": pm.get("holdout_masked_auc"), "seeds": seeds,
            "seconds": time.perf_counter() - t0}  # fmt: skip


def encoder_table(s: SweepInputs, cfg: ExperimentsConfig) -> list[dict[str, Any]]:
    """Table 4: each encoder kind, pretrained and not (a seeded random frozen encoder)."""
    points = []
    for kind in cfg.encoders:
        for enabled in (True, False):
            enc = dataclasses.replace(s.pretrain.encoder, kind=kind)
            pre = dataclasses.replace(s.pretrain, encoder=enc, enabled=enabled)
            points.append(
                {"encoder": kind, "pretrained": enabled, **_point(s, cfg, pre, f"{kind}/{enabled}")}
            )
    return points


def mask_ratio_curve(s: SweepInputs, cfg: ExperimentsConfig) -> list[dict[str, Any]]:
    """Figure 4: test metrics against the pretraining mask ratio r."""
    return [
        _point(s, cfg, dataclasses.replace(s.pretrain, mask_ratio=float(r)), float(r))
        for r in cfg.mask_ratios
    ]


def k_curve(s: SweepInputs, cfg: ExperimentsConfig) -> list[dict[str, Any]]:
    """Figure 7: test metrics against K, on prefixes of the run's top-K retrieval (k <= K)."""
    K = np.asarray(s.retrieved["row_ids"]).shape[1]
    data = ModelData(s.rows, s.schema, windows=s.windows, length=s.length, retrieved=s.retrieved,
                     datastore=s.datastore, target_hist=s.target_hist)  # fmt: skip
    points = []
    for k in cfg.k_values:
        if k > K:
            logger.warning("K sweep: k = %d skipped, the run retrieved only %d (raise retrieval.k)", k, K)
            continue
        t0 = time.perf_counter()
        points.append({"value": int(k), "seeds": _evaluate_lift(data, s, cfg, k=int(k)),
                       "seconds": time.perf_counter() - t0})  # fmt: skip
    return points


def length_curve(s: SweepInputs, cfg: ExperimentsConfig) -> list[dict[str, Any]]:
    """Figure 8: test metrics against the window length L (windows, pretraining and datastore per L)."""
    points = []
    for L in cfg.lengths:
        windows = s.windows if L == s.length else build_windows(
            s.rows,
            dataclasses.replace(s.window_cfg, length=int(L),
                                min_pretrain_len=min(s.window_cfg.min_pretrain_len, int(L))),
        )  # fmt: skip
        enc = dataclasses.replace(s.pretrain.encoder, max_len=max(s.pretrain.encoder.max_len, int(L)))
        pre = s.pretrain if enc == s.pretrain.encoder else dataclasses.replace(s.pretrain, encoder=enc)
        points.append(_point(s, cfg, pre, int(L), windows=windows, length=int(L)))
    return points


SWEEPS: dict[str, Callable[[SweepInputs, ExperimentsConfig], list[dict[str, Any]]]] = {
    "encoders": encoder_table, "mask_ratio": mask_ratio_curve, "k": k_curve, "length": length_curve,
}  # fmt: skip
