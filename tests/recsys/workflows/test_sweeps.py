"""LIFT's sweeps on tiny stage outputs: each point recomputes only what its parameter changes.

``_contexts`` (pretraining + encoding) is spied on to prove which points reuse the run's datastore.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pytest

from liftrec.recsys.data.sequences import WindowConfig
from liftrec.recsys.models.encoder import EncoderConfig
from liftrec.recsys.models.lift import LiftConfig
from liftrec.recsys.retrieval.datastore import DatastoreConfig
from liftrec.recsys.training.loop import TrainConfig
from liftrec.recsys.workflows import sweeps
from liftrec.recsys.workflows.experiments import ExperimentsConfig
from liftrec.recsys.workflows.predict import PredictorStageConfig
from liftrec.recsys.workflows.pretrain import PretrainStageConfig
from liftrec.recsys.workflows.sweeps import (
    SweepInputs,
    encoder_table,
    k_curve,
    length_curve,
    mask_ratio_curve,
)
from tests.recsys.workflows.conftest import LENGTH

ONE_EPOCH = TrainConfig(epochs=1, batch_size=128, patience=1, device="cpu")


@pytest.fixture
def inputs(tiny_stages: dict) -> SweepInputs:
    s = tiny_stages
    pretrain = PretrainStageConfig(
        mask_ratio=0.4,
        head_hidden=8,
        encoder=EncoderConfig(dim=8, field_dim=4, layers=1, heads=2, max_len=LENGTH),
        training=TrainConfig(epochs=1, batch_size=64, patience=1, device="cpu"),
    )
    return SweepInputs(
        rows=s["rows"],
        schema=s["schema"],
        windows=s["windows"],
        retrieved=s["retrieved"],
        datastore=s["datastore"],
        target_hist=s["target_hist"],
        length=LENGTH,
        window_cfg=WindowConfig(length=LENGTH),
        pretrain=pretrain,
        store_cfg=DatastoreConfig(dtype="float32", device="cpu"),
        predictor=PredictorStageConfig(lift=LiftConfig(field_dim=4, mlp=(8,)), training=ONE_EPOCH),
        task="ctr",
        seed=3,
    )


@pytest.fixture
def contexts_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """Record every (pretrain config, windows, length) that ``_contexts`` recomputes (it still runs)."""
    calls: list[tuple] = []
    real = sweeps._contexts

    def spy(s, pretrain, windows, length):
        calls.append((pretrain, windows, length))
        return real(s, pretrain, windows, length)

    monkeypatch.setattr(sweeps, "_contexts", spy)
    return calls


def _cfg(**kw) -> ExperimentsConfig:
    return ExperimentsConfig(sweep_seeds=(0,), **kw)


def _check_point(p: dict, value) -> None:
    assert p["value"] == value and list(p["seeds"]) == ["0"]
    m = p["seeds"]["0"]
    assert 0.0 <= m["test"]["AUC"] <= 1.0 and np.isfinite(m["valid"]["LogLoss"])


def test_k_curve_uses_prefixes_and_skips_k_above_the_retrieved_k(inputs, contexts_calls, monkeypatch, caplog):
    K = np.asarray(inputs.retrieved["row_ids"]).shape[1]  # 4
    trained: list = []
    real = sweeps.train_model

    def spy(name, params, training, data, seed, *, k=None, **kw):
        trained.append((k, data.retrieved is inputs.retrieved, data.store is not None))
        return real(name, params, training, data, seed, k=k, **kw)

    monkeypatch.setattr(sweeps, "train_model", spy)
    with caplog.at_level(logging.WARNING, logger="liftrec.recsys.workflows.sweeps"):
        points = k_curve(inputs, _cfg(k_values=(1, K, K + 5)))
    assert [p["value"] for p in points] == [1, K]
    for p, v in zip(points, (1, K), strict=True):
        _check_point(p, v)
    assert f"k = {K + 5} skipped, the run retrieved only {K}" in caplog.text
    assert trained == [(1, True, True), (K, True, True)]  # the run's one retrieval and datastore, cut at k
    assert contexts_calls == []  # nothing re-encoded


def test_mask_ratio_point_equal_to_the_run_reuses_its_datastore(inputs, contexts_calls):
    points = mask_ratio_curve(inputs, _cfg(mask_ratios=(0.4, 0.7)))
    assert [p["value"] for p in points] == [0.4, 0.7]
    _check_point(points[0], 0.4)
    _check_point(points[1], 0.7)
    assert len(contexts_calls) == 1  # only 0.7 pretrains and encodes
    pretrain, windows, length = contexts_calls[0]
    assert pretrain == dataclasses.replace(inputs.pretrain, mask_ratio=0.7)
    assert windows is inputs.windows and length == LENGTH
    assert points[0]["pretrain_masked_auc"] is None  # reused: no pretraining ran
    assert points[1]["pretrain_masked_auc"] is not None
    # the reused point is exactly the run's own configuration: same metrics as K = all retrieved rows
    K = np.asarray(inputs.retrieved["row_ids"]).shape[1]
    full = k_curve(inputs, _cfg(k_values=(K,)))[0]
    assert points[0]["seeds"]["0"]["test"] == pytest.approx(full["seeds"]["0"]["test"])


def test_length_curve_rebuilds_windows_for_a_new_length(inputs, contexts_calls):
    points = length_curve(inputs, _cfg(lengths=(4, LENGTH)))
    assert [p["value"] for p in points] == [4, LENGTH]
    _check_point(points[0], 4)
    _check_point(points[1], LENGTH)
    assert len(contexts_calls) == 1  # L = LENGTH is the run's own: reused
    pretrain, windows, length = contexts_calls[0]
    assert length == 4 and windows is not inputs.windows
    assert int((windows["hist_hi"] - windows["hist_lo"]).max()) == 4  # histories cut at the new L
    assert int((inputs.windows["hist_hi"] - inputs.windows["hist_lo"]).max()) == LENGTH
    assert pretrain == inputs.pretrain  # max_len (6) already covers L = 4


def test_length_above_max_len_widens_the_encoder(inputs, monkeypatch):
    seen: list = []

    def fake(s, pretrain, windows, length):  # no real pretraining: only the arguments matter here
        seen.append((pretrain.encoder.max_len, length))
        return s.datastore, s.target_hist, {"holdout_masked_auc": 0.5}

    monkeypatch.setattr(sweeps, "_contexts", fake)
    monkeypatch.setattr(sweeps, "_evaluate_lift", lambda data, s, cfg, k=None: {"0": {"length": data.length}})
    points = length_curve(inputs, _cfg(lengths=(LENGTH + 2,)))
    assert seen == [(LENGTH + 2, LENGTH + 2)]
    assert points[0]["seeds"] == {"0": {"length": LENGTH + 2}}


def test_encoder_table_pretrained_and_not_per_kind(inputs, monkeypatch):
    seen: list = []

    def fake(s, pretrain, windows, length):
        seen.append((pretrain.encoder.kind, pretrain.enabled))
        return s.datastore, s.target_hist, {"holdout_masked_auc": 0.5}

    monkeypatch.setattr(sweeps, "_contexts", fake)
    monkeypatch.setattr(sweeps, "_evaluate_lift", lambda data, s, cfg, k=None: {})
    points = encoder_table(inputs, _cfg(encoders=("gru", "transformer_encoder")))
    assert [(p["encoder"], p["pretrained"]) for p in points] == [
        ("gru", True),
        ("gru", False),
        ("transformer_encoder", True),
        ("transformer_encoder", False),
    ]
    assert seen == [
        (p["encoder"], p["pretrained"]) for p in points
    ]  # the run's own (decoder) is not among them
    own = encoder_table(inputs, _cfg(encoders=(inputs.pretrain.encoder.kind,)))
    assert len(seen) == 5 and own[0]["pretrain_masked_auc"] is None  # the run's kind, pretrained: reused
