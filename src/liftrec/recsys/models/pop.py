"""Most popular: the floor every recommender must clear (a non-personalised reference point).

Score of a candidate = how often its item was a real interaction (label 1) among the rows the model is
fitted on, i.e. before the validation period (the experiments fit it on retrieval + train). The count
goes through one logistic calibration, p = sigmoid(a * log(1 + count) + b), fitted on the same rows
by Newton's method, so its LogLoss is meaningful; the ranking (AUC, HR, NDCG, MRR) is that of the
counts alone. Items never seen score as a count of 0.

Like GBDT it is not an ``nn.Module`` (the torch loop does not apply): it is a fitted model of
:data:`liftrec.recsys.models.fitted.FITTED_MODELS`, with the same ``fit`` / ``predict_proba`` /
``state`` / ``from_state`` surface. Its one piece of context is the position of the item field.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from liftrec.recsys.config import check, from_dict

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PopConfig:
    """Settings of the popularity ranker (``pop``).

    Attributes:
        calibration_steps: Newton steps of the one-feature logistic calibration (0: p = count share).
    """

    calibration_steps: int = 25

    def __post_init__(self) -> None:
        check(self.calibration_steps >= 0, "calibration_steps", f"must be >= 0, got {self.calibration_steps}")


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # overflow-free


def _logistic_fit(z: np.ndarray, y: np.ndarray, steps: int) -> tuple[float, float]:
    """(a, b) minimising the mean log loss of sigmoid(a z + b): Newton steps, halved until they help."""

    def loss(a: float, b: float) -> float:
        p = np.clip(_sigmoid(a * z + b), 1e-12, 1 - 1e-12)
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))

    prior = float(np.clip(y.mean(), 1e-6, 1 - 1e-6)) if len(y) else 0.5
    a, b = 0.0, float(np.log(prior / (1 - prior)))  # start at the base rate
    current = loss(a, b)
    for _ in range(steps):
        p = _sigmoid(a * z + b)
        w = p * (1 - p)
        g = np.array([np.mean((p - y) * z), np.mean(p - y)])
        h = np.array([[np.mean(w * z * z), np.mean(w * z)], [np.mean(w * z), np.mean(w)]]) + 1e-9 * np.eye(2)
        step = np.linalg.solve(h, g)
        scale = 1.0
        while scale > 1e-4 and loss(a - scale * step[0], b - scale * step[1]) > current:
            scale /= 2
        if scale <= 1e-4:
            break
        a, b = a - scale * step[0], b - scale * step[1]
        new = loss(a, b)
        if current - new < 1e-10:
            current = new
            break
        current = new
    return float(a), float(b)


class PopModel:
    """Counts of each item's real interactions, calibrated into click probabilities.

    Args:
        cfg: settings (defaults when None).
        context: the data's context; ``item_field_index`` (default 1) is the item field's column in x.
    """

    def __init__(self, cfg: PopConfig | None = None, context: Mapping[str, Any] | None = None) -> None:
        self.cfg = cfg or PopConfig()
        self.item_index = int((context or {}).get("item_field_index", 1))
        self.counts: np.ndarray | None = None
        self.coef = (1.0, 0.0)
        self.best_iteration = 0

    def _feature(self, x: np.ndarray) -> np.ndarray:
        if self.counts is None:
            raise RuntimeError("PopModel used before fit / from_state")
        items = np.asarray(x)[:, self.item_index].astype(np.int64)
        seen = (items >= 0) & (items < len(self.counts))
        return np.log1p(np.where(seen, self.counts[np.where(seen, items, 0)], 0)).astype(np.float64)

    def fit(
        self,
        x_train: np.ndarray,
        y_train: np.ndarray,
        x_valid: np.ndarray | None = None,
        y_valid: np.ndarray | None = None,
        seed: int = 0,
    ) -> PopModel:
        """Count each item's positives in ``x_train``; calibrate on the validation rows (else on x_train).

        Args:
            x_train: (N, M) field codes.
            y_train: (N,) 0/1 labels.
            x_valid: (N_v, M) rows for the calibration, or None.
            y_valid: their labels.
            seed: accepted for the fitted-model surface; nothing is random.

        Returns:
            self.
        """
        x, y = np.asarray(x_train), np.asarray(y_train)
        if x.ndim != 2 or y.shape != (x.shape[0],):
            raise ValueError(f"pop: x_train {x.shape} and y_train {y.shape} do not align")
        items = x[:, self.item_index].astype(np.int64)
        size = int(items.max()) + 1 if len(items) else 1
        self.counts = np.bincount(items[y == 1], minlength=size).astype(np.int64)
        # Platt scaling on held-out rows: on the counted rows every positive counts itself
        if x_valid is not None and y_valid is not None and len(y_valid):
            x, y = np.asarray(x_valid), np.asarray(y_valid)
        self.coef = _logistic_fit(self._feature(x), y.astype(np.float64), self.cfg.calibration_steps)
        logger.info(
            "pop: %d items counted, calibration a=%.3f b=%.3f", int((self.counts > 0).sum()), *self.coef
        )
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """(N,) probabilities; a monotone function of the item's count (a >= 0 keeps the ranking)."""
        a, b = self.coef
        return _sigmoid(abs(a) * self._feature(x) + b)

    def state(self) -> dict[str, Any]:
        """A plain, picklable dict: config, item column, counts and calibration."""
        if self.counts is None:
            raise RuntimeError("PopModel.state called before fit")
        return {"config": dataclasses.asdict(self.cfg), "item_index": self.item_index,
                "counts": self.counts.tolist(), "coef": list(self.coef)}  # fmt: skip

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> PopModel:
        """Restore a model saved by :meth:`state`."""
        model = cls(
            from_dict(PopConfig, dict(state["config"]), path="pop"), {"item_field_index": state["item_index"]}
        )
        model.counts = np.asarray(state["counts"], dtype=np.int64)
        model.coef = (float(state["coef"][0]), float(state["coef"][1]))
        return model
