"""Models fitted outside the torch loop (name -> (model class, config class)): GBDT and popularity.

Each class is built as ``cls(cfg, context)`` (``context``: :meth:`ModelData.context`, what only the
data knows) and exposes ``fit(x_train, y_train, x_valid, y_valid, seed)``, ``predict_proba(x)``,
``best_iteration``, ``state()`` and ``from_state(state)``.
"""

from __future__ import annotations

from liftrec.recsys.models.gbdt import GBDTConfig, GBDTModel
from liftrec.recsys.models.pop import PopConfig, PopModel

FITTED_MODELS: dict[str, tuple[type, type]] = {"gbdt": (GBDTModel, GBDTConfig), "pop": (PopModel, PopConfig)}
