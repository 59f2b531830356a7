"""GBDT baseline: LightGBM on the target row's categorical fields.

Paper: Friedman, "Greedy Function Approximation: A Gradient Boosting Machine", Annals of Statistics
2001; the tree learner is LightGBM (Ke et al., "LightGBM: A Highly Efficient Gradient Boosting
Decision Tree", NeurIPS 2017; github microsoft/LightGBM). RIM and LIFT list GBDT as their tabular
CTR baseline without giving its settings; this module trains LightGBM's binary objective on the M
field codes of x, every field declared categorical (LightGBM's many-vs-many categorical splits),
with early stopping on the validation AUC.

Not an ``nn.Module``: the torch training loop does not apply. It is exposed through
:data:`liftrec.recsys.models.fitted.FITTED_MODELS`, not the torch registry. Persistence:
:meth:`GBDTModel.state` returns a plain dict (the LightGBM model string, truncated at the best iteration) and
:meth:`GBDTModel.from_state` restores it, predicting identically.

Exception to the library's import rule: lightgbm is imported lazily inside the functions that need
it, with a clear error when it is missing.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from liftrec.recsys.config import check, from_dict
from liftrec.recsys.training.device import keep_torch_threads

logger = logging.getLogger(__name__)


def _lightgbm() -> Any:
    try:
        import lightgbm
    except ModuleNotFoundError as e:  # pragma: no cover - depends on the environment
        raise ModuleNotFoundError("the 'gbdt' baseline needs LightGBM: pip install lightgbm==4.7.0") from e
    return lightgbm


@dataclass(frozen=True)
class GBDTConfig:
    """Hyper-parameters of the GBDT baseline (``gbdt``), LightGBM's names.

    Attributes:
        num_leaves: maximum leaves per tree.
        learning_rate: shrinkage.
        n_estimators: maximum boosting rounds.
        min_child_samples: minimum rows in a leaf (``min_data_in_leaf``).
        early_stopping_rounds: stop when the validation AUC has not improved for this many rounds
            (0 = no early stopping).
        feature_fraction: fraction of fields considered per tree.
        lambda_l2: L2 regularisation of leaf values.
        cat_smooth: smoothing of categorical split statistics.
        cat_l2: L2 regularisation of categorical splits.
        max_cat_threshold: maximum categories on one side of a categorical split.
        num_threads: LightGBM threads.
    """

    num_leaves: int = 31
    learning_rate: float = 0.05
    n_estimators: int = 500
    min_child_samples: int = 20
    early_stopping_rounds: int = 20
    feature_fraction: float = 1.0
    lambda_l2: float = 0.0
    cat_smooth: float = 10.0
    cat_l2: float = 10.0
    max_cat_threshold: int = 32
    num_threads: int = 2

    def __post_init__(self) -> None:
        check(self.num_leaves >= 2, "num_leaves", f"must be >= 2, got {self.num_leaves}")
        check(self.learning_rate > 0, "learning_rate", f"must be > 0, got {self.learning_rate}")
        check(self.n_estimators >= 1, "n_estimators", f"must be >= 1, got {self.n_estimators}")
        check(self.min_child_samples >= 1, "min_child_samples", f"must be >= 1, got {self.min_child_samples}")
        check(
            self.early_stopping_rounds >= 0,
            "early_stopping_rounds",
            f"must be >= 0, got {self.early_stopping_rounds}",
        )
        check(
            0 < self.feature_fraction <= 1,
            "feature_fraction",
            f"must be in (0, 1], got {self.feature_fraction}",
        )
        for name in ("lambda_l2", "cat_smooth", "cat_l2"):
            check(getattr(self, name) >= 0, name, f"must be >= 0, got {getattr(self, name)}")
        check(self.max_cat_threshold >= 1, "max_cat_threshold", f"must be >= 1, got {self.max_cat_threshold}")
        check(self.num_threads >= 1, "num_threads", f"must be >= 1, got {self.num_threads}")


def _check_xy(x: np.ndarray, y: np.ndarray | None, what: str, num_fields: int | None = None) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2 or not np.issubdtype(x.dtype, np.integer):
        raise ValueError(f"{what}: expected a 2-D integer array of field codes, got {x.dtype} {x.shape}")
    if num_fields is not None and x.shape[1] != num_fields:
        raise ValueError(f"{what}: expected {num_fields} fields, got {x.shape[1]}")
    if x.size and x.min() < 0:
        raise ValueError(f"{what}: field codes must be >= 0 (0 = unknown), got {x.min()}")
    if y is not None and np.asarray(y).shape != (x.shape[0],):
        raise ValueError(f"{what}: labels of shape {np.asarray(y).shape} do not match {x.shape[0]} rows")
    return x.astype(np.float64)  # LightGBM's input type; dense codes < 2^53 stay exact


class GBDTModel:
    """LightGBM binary classifier over M categorical field codes.

    Args:
        cfg: hyper-parameters (defaults when None).
        context: the data's context (unused: every field is a feature).
    """

    def __init__(self, cfg: GBDTConfig | None = None, context: Any = None) -> None:
        self.cfg = cfg or GBDTConfig()
        self._booster: Any = None
        self.num_fields: int | None = None
        self.best_iteration: int = 0

    def _params(self, seed: int) -> dict[str, Any]:
        c = self.cfg
        return {
            "objective": "binary",
            "metric": "auc",
            "num_leaves": c.num_leaves,
            "learning_rate": c.learning_rate,
            "min_data_in_leaf": c.min_child_samples,
            "feature_fraction": c.feature_fraction,
            "lambda_l2": c.lambda_l2,
            "cat_smooth": c.cat_smooth,
            "cat_l2": c.cat_l2,
            "max_cat_threshold": c.max_cat_threshold,
            "num_threads": c.num_threads,
            "seed": seed,
            "deterministic": True,
            "force_row_wise": True,  # LightGBM's advice for reproducible results with deterministic
            "verbosity": -1,
        }

    @keep_torch_threads
    def fit(
        self,
        x_train: np.ndarray,
        y_train: np.ndarray,
        x_valid: np.ndarray | None = None,
        y_valid: np.ndarray | None = None,
        seed: int = 0,
    ) -> GBDTModel:
        """Train, early-stopping on the validation AUC when a validation set is given.

        Args:
            x_train: (N, M) int field codes.
            y_train: (N,) 0/1 labels.
            x_valid: (N_v, M) validation codes, or None (then all ``n_estimators`` rounds are kept).
            y_valid: (N_v,) validation labels.
            seed: LightGBM's seed (with ``deterministic``, the same seed gives the same model).

        Returns:
            self.
        """
        lgb = _lightgbm()
        xt = _check_xy(x_train, y_train, "x_train")
        M = xt.shape[1]
        names = [f"f{j}" for j in range(M)]
        params = self._params(seed)
        train = lgb.Dataset(
            xt,
            label=np.asarray(y_train, np.float64),
            feature_name=names,
            categorical_feature=list(range(M)),
            params=params,
        )
        valid_sets, callbacks = [], []
        if x_valid is not None:
            if y_valid is None:
                raise ValueError("x_valid given without y_valid")
            xv = _check_xy(x_valid, y_valid, "x_valid", M)
            valid_sets.append(lgb.Dataset(xv, label=np.asarray(y_valid, np.float64), reference=train))
            if self.cfg.early_stopping_rounds > 0:
                callbacks.append(lgb.early_stopping(self.cfg.early_stopping_rounds, verbose=False))
        booster = lgb.train(
            params, train, num_boost_round=self.cfg.n_estimators, valid_sets=valid_sets, callbacks=callbacks
        )
        best = booster.best_iteration if booster.best_iteration > 0 else booster.current_iteration()
        # keep only the best trees, so this object and one restored from state() predict identically
        self._booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=best))
        self.num_fields, self.best_iteration = M, int(best)
        score = booster.best_score.get("valid_0", {}).get("auc") if valid_sets else None
        logger.info("gbdt: %d trees kept (of at most %d), valid AUC %s", best, self.cfg.n_estimators, score)
        return self

    @keep_torch_threads
    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """(N,) float64 click probabilities of (N, M) field codes."""
        if self._booster is None:
            raise RuntimeError("GBDTModel.predict_proba called before fit / from_state")
        return np.asarray(self._booster.predict(_check_xy(x, None, "x", self.num_fields)), dtype=np.float64)

    def state(self) -> dict[str, Any]:
        """A plain, picklable / JSON-able dict: config, field count, best iteration, model string."""
        if self._booster is None:
            raise RuntimeError("GBDTModel.state called before fit")
        return {
            "config": dataclasses.asdict(self.cfg),
            "num_fields": self.num_fields,
            "best_iteration": self.best_iteration,
            "model": self._booster.model_to_string(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> GBDTModel:
        """Restore a model saved by :meth:`state`."""
        lgb = _lightgbm()
        model = cls(from_dict(GBDTConfig, dict(state["config"]), path="gbdt"))
        model._booster = lgb.Booster(model_str=state["model"])
        model.num_fields, model.best_iteration = int(state["num_fields"]), int(state["best_iteration"])
        return model
