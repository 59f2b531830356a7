"""The paper's model comparisons: one entry (a model and its parameters) trained over seeds.

Every entry is trained on the same rows, splits, negatives, windows and retrievals (the stage
outputs in :class:`~liftrec.recsys.workflows.models.ModelData`); only the predictor's seed varies
across the seeds of an entry (initialisation, batch order, dropout). Torch models go through the one
fit loop (:func:`~liftrec.recsys.workflows.models.train_model`); GBDT (LightGBM) has its own
booster and early stopping on the same validation slice.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from liftrec.recsys.config import check, from_dict
from liftrec.recsys.errors import ConfigError
from liftrec.recsys.models.batch import model_inputs
from liftrec.recsys.models.fitted import FITTED_MODELS
from liftrec.recsys.models.registry import MODELS
from liftrec.recsys.schema import GROUP_ID, LABEL, PERIOD, PERIODS, ROW_ID, TEST, VALID
from liftrec.recsys.training.loop import TrainConfig
from liftrec.recsys.workflows.models import (
    ModelData,
    load_model,
    require_targets,
    score_model,
    select_targets,
    train_model,
)
from liftrec.recsys.workflows.predict import evaluate_predictions

logger = logging.getLogger(__name__)

Task = Literal["ctr", "topn"]


@dataclass(frozen=True)
class EntryConfig:
    """One row of a results table (``experiment_models.<name>``).

    Attributes:
        model: registry name (``liftrec.recsys.models.registry``) or "gbdt".
        params: the model's parameters (its config; unknown keys are rejected).
        training: overrides of ``experiments.training`` for this entry.
        tasks: the tables the entry belongs to ("ctr" and / or "topn"); skipped for other tasks.
        train_periods: the periods it trains on: ("train",), or ("retrieval", "train") for a model that
            reads no retrieved rows (the paper trains such baselines on retrieval + train, §5.1).
    """

    model: str
    params: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    tasks: tuple[Task, ...] = ("ctr", "topn")
    train_periods: tuple[str, ...] = ("train",)

    def __post_init__(self) -> None:
        known = sorted(MODELS) + sorted(FITTED_MODELS)
        check(self.model in known, "model", f"unknown model '{self.model}'; known models: {known}")
        check(
            all(t in ("ctr", "topn") for t in self.tasks),
            "tasks",
            f"must be ctr / topn, got {list(self.tasks)}",
        )
        check(
            set(self.train_periods) in ({"train"}, {"retrieval", "train"}),
            "train_periods",
            f"must be [train] or [retrieval, train], got {list(self.train_periods)}",
        )
        reads = model_inputs(MODELS[self.model]) if self.model in MODELS else frozenset({"x"})
        check(
            "retrieval" not in self.train_periods or not reads & {"keys", "context"},
            "train_periods",
            f"'{self.model}' reads retrieved rows, which retrieval-period rows do not have: [train] only",
        )

    @property
    def period_codes(self) -> tuple[int, ...]:
        return tuple(PERIODS[p] for p in self.train_periods)


@dataclass(frozen=True)
class ExperimentsConfig:
    """Shared settings of the experiments (``experiments``).

    Attributes:
        seeds: predictor seeds of every table entry (mean ± std over them).
        training: default optimisation settings of every torch entry.
        sweep_seeds: seeds of the figure sweeps (mask ratio, K, L) and the encoder table.
        k_values: retrieved rows per target for the K figure (each <= retrieval.k: a prefix of the top-K).
        mask_ratios: pretraining mask ratios for the mask-ratio figure.
        lengths: window lengths L for the L figure.
        encoders: encoder kinds of the encoder table (each pretrained and not).
        inference_models: models timed for the inference-time figure (the paper: LIFT, RIM, BERT4Rec).
        inference_requests: requests timed per model for the inference-time figure.
        inference_batch: batch size of those requests (equal for every model).
        bootstrap: resamples of the paired bootstrap between LIFT and the best baseline.
    """

    seeds: tuple[int, ...] = (0, 1, 2)
    training: TrainConfig = field(
        default_factory=lambda: TrainConfig(epochs=8, weight_decay=1e-4, patience=2)
    )
    sweep_seeds: tuple[int, ...] = (0,)
    k_values: tuple[int, ...] = (1, 5, 10, 20)
    mask_ratios: tuple[float, ...] = (0.2, 0.4, 0.6, 0.8)
    lengths: tuple[int, ...] = (5, 10, 20, 40)
    encoders: tuple[Literal["gru", "transformer_encoder", "transformer_decoder"], ...] = (
        "gru", "transformer_encoder", "transformer_decoder")  # fmt: skip
    inference_models: tuple[str, ...] = ("lift", "rim", "bert4rec")
    inference_requests: int = 2000
    inference_batch: int = 256
    bootstrap: int = 1000

    def __post_init__(self) -> None:
        for name in ("seeds", "sweep_seeds"):
            check(len(getattr(self, name)) >= 1, name, "needs at least one seed")
        check(all(k >= 1 for k in self.k_values), "k_values", f"must be >= 1, got {list(self.k_values)}")
        check(all(0 < r < 1 for r in self.mask_ratios), "mask_ratios", "each must be in (0, 1)")
        check(all(n >= 1 for n in self.lengths), "lengths", f"must be >= 1, got {list(self.lengths)}")
        check(
            self.inference_requests >= 1 and self.inference_batch >= 1, "inference_requests", "must be >= 1"
        )
        check(self.bootstrap >= 100, "bootstrap", f"must be >= 100, got {self.bootstrap}")


def entry_training(entry: EntryConfig, cfg: ExperimentsConfig, device: str) -> TrainConfig:
    """The entry's optimisation settings: the shared ones, the run's device, the entry's overrides."""
    base = {f: getattr(cfg.training, f) for f in TrainConfig.__dataclass_fields__}
    return from_dict(TrainConfig, {**base, "device": device, **entry.training}, path="training")


def _predictions(data: ModelData, ids: np.ndarray, scores: np.ndarray) -> pd.DataFrame:
    sel = data.rows.iloc[ids]
    return pd.DataFrame({ROW_ID: ids, GROUP_ID: sel[GROUP_ID].to_numpy(), PERIOD: sel[PERIOD].to_numpy(),
                         LABEL: sel[LABEL].to_numpy(), "score": scores})  # fmt: skip


def _run_fitted(entry: EntryConfig, data: ModelData, seed: int) -> tuple[pd.DataFrame, dict[str, Any]]:
    model_cls, cfg_cls = FITTED_MODELS[entry.model]
    cfg = from_dict(cfg_cls, dict(entry.params), path=entry.model)
    train, valid = select_targets(data, entry.period_codes), select_targets(data, (VALID,))
    for period, t in (("train", train), ("valid", valid)):
        require_targets(data, t, period)
    t0 = time.perf_counter()
    model = model_cls(cfg, data.context()).fit(
        data.X[train.row_ids], data.y[train.row_ids], data.X[valid.row_ids], data.y[valid.row_ids], seed=seed
    )
    seconds = time.perf_counter() - t0
    scored = select_targets(data, (VALID, TEST))
    pred = _predictions(data, scored.row_ids, model.predict_proba(data.X[scored.row_ids]))
    return pred, {"train_seconds": seconds, "best_iteration": model.best_iteration}


def _run_torch(
    entry: EntryConfig, data: ModelData, seed: int, training: TrainConfig
) -> tuple[pd.DataFrame, dict[str, Any]]:
    package, m = train_model(
        entry.model, entry.params, training, data, seed, train_periods=entry.period_codes
    )
    t0 = time.perf_counter()
    pred = score_model(load_model(package, training.device), package, data, 4 * training.batch_size)
    return pred, {"train_seconds": m["seconds"], "best_epoch": m["best_epoch"],
                  "valid_auc_fit": m["valid_auc"], "score_seconds": time.perf_counter() - t0,
                  "samples_per_s": m["samples_per_s"]}  # fmt: skip


def run_entry(
    name: str, entry: EntryConfig, cfg: ExperimentsConfig, data: ModelData, task: Task, device: str = "auto"
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Train and evaluate one table entry over ``cfg.seeds``.

    Args:
        name: the entry's name (a table row).
        entry: model, parameters and overrides.
        cfg: shared settings.
        data: the stage outputs the model reads.
        task: the dataset's task; an entry outside it is skipped.
        device: the run's device (an entry's ``training.device`` wins).

    Returns:
        The runs ({"name", "model", "skipped", "seeds": {seed: metrics}}) and the test scores
        ({"row_id", "label", "group_id", "seed_<s>": scores}) for significance tests.
    """
    runs: dict[str, Any] = {"name": name, "model": entry.model, "task": task,
                            "skipped": task not in entry.tasks, "seeds": {}}  # fmt: skip
    scores: dict[str, np.ndarray] = {}
    if runs["skipped"]:
        logger.info("experiments: %s skipped (not in the %s table)", name, task)
        return runs, {"row_id": np.zeros(0, np.int64)}  # persisted as "done, nothing scored"
    training = entry_training(entry, cfg, device)
    for seed in cfg.seeds:
        if entry.model in FITTED_MODELS:
            pred, extra = _run_fitted(entry, data, seed)
        else:
            pred, extra = _run_torch(entry, data, seed, training)
        metrics = evaluate_predictions(pred, task)
        runs["seeds"][str(seed)] = {**{k: v for k, v in metrics.items() if k != "task"}, **extra}
        test = pred[pred[PERIOD] == TEST]
        if not scores:
            scores = {"row_id": test[ROW_ID].to_numpy(), "label": test[LABEL].to_numpy(),
                      "group_id": test[GROUP_ID].to_numpy()}  # fmt: skip
        elif not np.array_equal(scores["row_id"], test[ROW_ID].to_numpy()):
            raise ConfigError(f"experiments: {name} scored different test rows across seeds")
        scores[f"seed_{seed}"] = test["score"].to_numpy(np.float32)
        logger.info("experiments: %s seed %d test %s", name, seed, metrics.get("test", {}))
    return runs, scores
