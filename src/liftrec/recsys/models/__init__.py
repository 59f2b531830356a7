"""Models: one per file, each built from a frozen config and exposing ``loss(batch)`` and scores.

``encoder`` holds LIFT's sequence encoder E (causal Transformer by default, plus the bidirectional
Transformer and GRU variants of the paper's Table 4); ``pretrainer`` the mask-behaviour model that
pretrains it. The explicit model registry lives in ``registry``.
"""

# Load the registry (and through it every model module) before any single model module, so that
# importing e.g. ``liftrec.recsys.models.din`` first cannot meet a half-initialised registry cycle.
from liftrec.recsys.models import registry as _registry  # noqa: E402, F401
