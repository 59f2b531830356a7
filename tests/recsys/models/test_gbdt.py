"""GBDT baseline (LightGBM on the categorical fields): learns a planted rule, deterministic, persists."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

pytest.importorskip("lightgbm")

from liftrec.recsys.errors import ConfigError  # noqa: E402
from liftrec.recsys.evaluation.metrics import auc  # noqa: E402
from liftrec.recsys.models.fitted import FITTED_MODELS  # noqa: E402
from liftrec.recsys.models.gbdt import GBDTConfig, GBDTModel  # noqa: E402
from liftrec.recsys.models.registry import MODELS  # noqa: E402

CARD = (50, 40, 8, 4)  # user, item, category, behaviour
FAST = {
    "n_estimators": 60,
    "num_leaves": 8,
    "learning_rate": 0.2,
    "early_stopping_rounds": 10,
    "num_threads": 1,
}


def _planted(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Click iff the item's category is 'liked' by the user's parity, 5% labels flipped."""
    rng = np.random.default_rng(seed)
    x = np.stack([rng.integers(1, c, n) for c in CARD], axis=1).astype(np.int64)  # (n, M)
    rule = (x[:, 1] % 5 < 2) ^ (x[:, 0] % 2 == 0)  # an item-set x user-group interaction
    flip = rng.random(n) < 0.05
    return x, (rule ^ flip).astype(np.int64)


def _fit(seed: int = 0, **cfg: object) -> tuple[GBDTModel, np.ndarray, np.ndarray]:
    x, y = _planted(3000, 1)
    xv, yv = _planted(1000, 2)
    model = GBDTModel(GBDTConfig(**{**FAST, **cfg})).fit(x[:2000], y[:2000], xv, yv, seed=seed)
    return model, x[2000:], y[2000:]


def test_learns_a_planted_categorical_rule() -> None:
    model, x_test, y_test = _fit()
    p = model.predict_proba(x_test)
    assert p.shape == (1000,) and p.dtype == np.float64 and ((p > 0) & (p < 1)).all()
    assert auc(y_test, p) > 0.9  # 5% flipped labels cap a 0/1 rule scorer's AUC near 0.95
    assert 1 <= model.best_iteration <= FAST["n_estimators"]


def test_same_seed_gives_the_same_model() -> None:
    a, x_test, _ = _fit(seed=3, feature_fraction=0.5)  # feature_fraction draws from the seed
    b, _, _ = _fit(seed=3, feature_fraction=0.5)
    np.testing.assert_array_equal(a.predict_proba(x_test), b.predict_proba(x_test))
    assert a.state()["model"] == b.state()["model"]


def test_state_round_trip_predicts_identically() -> None:
    model, x_test, _ = _fit()
    state = model.state()
    restored = GBDTModel.from_state(json.loads(json.dumps(state)))  # plain data, JSON-able
    np.testing.assert_array_equal(restored.predict_proba(x_test), model.predict_proba(x_test))
    again = pickle.loads(pickle.dumps(restored))
    np.testing.assert_array_equal(again.predict_proba(x_test), model.predict_proba(x_test))
    assert restored.cfg == model.cfg and restored.best_iteration == model.best_iteration


def test_without_validation_keeps_every_round() -> None:
    x, y = _planted(500, 0)
    model = GBDTModel(GBDTConfig(**{**FAST, "n_estimators": 7})).fit(x, y, seed=0)
    assert model.best_iteration == 7 and np.isfinite(model.predict_proba(x)).all()


def test_config_and_input_errors() -> None:
    from liftrec.recsys.config import from_dict

    with pytest.raises(ConfigError, match="gbdt.num_leavs"):
        from_dict(GBDTConfig, {"num_leavs": 8}, path="gbdt")
    with pytest.raises(ConfigError, match="learning_rate"):
        from_dict(GBDTConfig, {"learning_rate": 0.0}, path="gbdt")
    model = GBDTModel(GBDTConfig(**FAST))
    with pytest.raises(RuntimeError, match="before fit"):
        model.predict_proba(np.ones((2, 4), np.int64))
    x, y = _planted(200, 0)
    with pytest.raises(ValueError, match="integer"):
        model.fit(x.astype(float), y)
    with pytest.raises(ValueError, match="labels"):
        model.fit(x, y[:-1])
    model.fit(x, y, seed=0)
    with pytest.raises(ValueError, match="4 fields"):
        model.predict_proba(x[:, :3])


def test_exposed_as_a_tree_model_not_a_torch_model() -> None:
    assert FITTED_MODELS["gbdt"] == (GBDTModel, GBDTConfig)
    assert "gbdt" not in MODELS
