"""The generic model workflow: targets, batches per model inputs, training and scoring (LIFT here;
the baselines' own tests cover their models)."""

from __future__ import annotations

import numpy as np
import pytest

from liftrec.recsys.data.sequences import gather_windows
from liftrec.recsys.errors import ConfigError
from liftrec.recsys.evaluation.metrics import auc
from liftrec.recsys.models.batch import history_batch, model_batches, model_inputs
from liftrec.recsys.models.lift import LiftModel
from liftrec.recsys.schema import LABEL, PAD, PERIOD, TEST, TRAIN, VALID
from liftrec.recsys.training.loop import TrainConfig
from liftrec.recsys.workflows.models import (
    ModelData,
    load_model,
    recent_history,
    score_model,
    select_targets,
    train_model,
)


def test_history_batch_pads_and_gathers() -> None:
    X = np.arange(12, dtype=np.int64).reshape(6, 2) + 1  # row r has codes (2r+1, 2r+2)
    y = np.array([1, 0, 1, 1, 0, 1], np.float32)
    rows = np.array([[PAD, 2, 4], [PAD, PAD, PAD]])
    b = history_batch(rows, X, y)
    assert b["hist"].shape == (2, 3, 2)
    np.testing.assert_array_equal(b["hist"][0], [[0, 0], [5, 6], [9, 10]])
    np.testing.assert_array_equal(b["hist_label"], [[0, 1, 0], [0, 0, 0]])
    np.testing.assert_array_equal(b["hist_valid"], [[False, True, True], [False, False, False]])


def test_model_inputs_reject_unknown_groups() -> None:
    class Bad:
        inputs = frozenset({"x", "future_of_everything"})

    assert model_inputs(LiftModel) == {"x", "keys", "context"}
    with pytest.raises(ConfigError, match="future_of_everything"):
        model_inputs(Bad)


def test_batches_without_retrievals_or_history_fail_clearly(tiny_data: ModelData) -> None:
    t = select_targets(tiny_data, (TRAIN,))
    with pytest.raises(ConfigError, match="retrieval results"):
        model_batches({"x", "keys"}, t.row_ids, tiny_data.X, tiny_data.y, 8, shuffle=False, seed=0)
    with pytest.raises(ConfigError, match="history selection"):
        model_batches({"x", "hist"}, t.row_ids, tiny_data.X, tiny_data.y, 8, shuffle=False, seed=0)


def test_select_targets_periods_and_k(tiny_data: ModelData) -> None:
    t = select_targets(tiny_data, (VALID, TEST), k=2)
    assert set(np.unique(tiny_data.period[t.row_ids])) <= {VALID, TEST}
    assert t.ret_ids.shape == (len(t.row_ids), 2) and t.own_hist.shape[0] == len(t.row_ids)
    full = select_targets(tiny_data, (VALID, TEST))
    np.testing.assert_array_equal(t.ret_ids, full.ret_ids[:, :2])
    with pytest.raises(ConfigError, match="'k': 99"):
        select_targets(tiny_data, (TRAIN,), k=99)


def test_recent_history_is_the_window_history(tiny_data: ModelData) -> None:
    t = select_targets(tiny_data, (TEST,))
    ids = t.row_ids[:10]
    w = tiny_data.windows
    expected = gather_windows(w["pool_index"], w["hist_lo"][ids], w["hist_hi"][ids], tiny_data.length)
    np.testing.assert_array_equal(recent_history(tiny_data)(ids), expected)
    ts = tiny_data.rows["ts"].to_numpy()
    got = recent_history(tiny_data)(ids)
    assert all((ts[got[i][got[i] >= 0]] < ts[ids[i]]).all() for i in range(len(ids)))  # strictly before


def test_train_and_score_lift_with_k(tiny_data: ModelData) -> None:
    cfg = {"mlp": [16], "field_dim": 4}
    package, metrics = train_model(
        "lift", cfg, TrainConfig(epochs=2, batch_size=64, patience=1), tiny_data, 0, k=3
    )
    assert package["k"] == 3 and metrics["best_epoch"] in (1, 2) and 0 <= metrics["valid_auc"] <= 1
    model = load_model(package, "cpu")
    pred = score_model(model, package, tiny_data, 128)
    assert set(pred[PERIOD].unique()) <= {VALID, TEST}
    assert np.isfinite(pred["score"]).all() and ((pred["score"] >= 0) & (pred["score"] <= 1)).all()
    assert pred[LABEL].to_numpy().tolist() == tiny_data.rows[LABEL].to_numpy()[pred["row_id"]].tolist()
    again = score_model(load_model(package, "cpu"), package, tiny_data, 7)  # batch size does not matter
    np.testing.assert_allclose(again["score"], pred["score"], rtol=1e-5, atol=1e-6)
    auc(pred[LABEL].to_numpy(), pred["score"].to_numpy())  # defined: both labels present
