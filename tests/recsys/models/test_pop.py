"""The popularity floor: counts of real interactions per item, calibrated, ranking = counts."""

from __future__ import annotations

import numpy as np
import pytest

from liftrec.recsys.config import from_dict
from liftrec.recsys.errors import ConfigError
from liftrec.recsys.evaluation.metrics import logloss
from liftrec.recsys.models.fitted import FITTED_MODELS
from liftrec.recsys.models.pop import PopConfig, PopModel


def table() -> tuple[np.ndarray, np.ndarray]:
    # columns (user, item); item 3 has 3 positives, item 1 has 1, item 2 only negatives
    x = np.array([[1, 3], [2, 3], [3, 3], [1, 1], [2, 2], [3, 2], [1, 1]])
    y = np.array([1, 1, 1, 1, 0, 0, 0])
    return x, y


def test_scores_rank_items_by_their_positive_counts():
    x, y = table()
    model = PopModel(PopConfig(), {"item_field_index": 1}).fit(x, y)
    np.testing.assert_array_equal(model.counts, [0, 1, 0, 3])
    p = model.predict_proba(np.array([[9, 3], [9, 1], [9, 2], [9, 7], [9, 0]]))  # 7: never seen
    assert p[0] > p[1] > p[2] and p[2] == p[3] == p[4]
    assert ((p > 0) & (p < 1)).all()
    assert logloss(y, model.predict_proba(x)) < logloss(y, np.full(len(y), y.mean()))


def test_state_round_trip_and_registry():
    x, y = table()
    model = PopModel(None, {"item_field_index": 1}).fit(x, y)
    again = PopModel.from_state(model.state())
    np.testing.assert_array_equal(again.predict_proba(x), model.predict_proba(x))
    assert FITTED_MODELS["pop"] == (PopModel, PopConfig)
    with pytest.raises(ConfigError, match="pop.calibration_steps"):
        from_dict(PopConfig, {"calibration_steps": -1}, "pop")
    with pytest.raises(RuntimeError, match="before fit"):
        PopModel().predict_proba(x)
