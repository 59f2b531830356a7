"""The table entries of the experiments: names, the model each trains, the shared inputs each reads."""

from __future__ import annotations

from liftrec.recsys.models.batch import model_inputs
from liftrec.recsys.models.fitted import FITTED_MODELS
from liftrec.recsys.models.registry import MODELS

ABLATIONS = ("lift_no_pretrain", "lift_history_only", "lift_future_only", "lift_no_context")
# Entries that read other shared inputs than the method's own (entry -> {input: dataset}).
VARIANT_INPUTS = {
    "lift_no_pretrain": {"datastore": "datastore_random", "target_history": "target_history_random"},
    "random_retrieval": {"retrieved": "retrieved_random"},  # RIM over random rows (the FATE-style control)
}
VARIANT_MODELS = {"random_retrieval": "rim", **{a: "lift" for a in ABLATIONS}}
SHARED = ("rows", "schema", "windows", "retrieved", "datastore", "target_history")
# the shared stage outputs each batch group needs (rows and schema always)
_GROUP_INPUTS = {
    "hist": ("windows",),
    "keys": ("retrieved",),
    "context": ("retrieved", "datastore", "target_history"),
}


def entries() -> tuple[str, ...]:
    """Table entries: every registered predictor, GBDT, the random-retrieval control, LIFT's ablations."""
    models = [n for n in MODELS if n != "mask_behaviour"] + sorted(FITTED_MODELS)
    return (*models, "random_retrieval", *ABLATIONS)


def entry_model(name: str) -> str:
    """The registry model an entry trains (its own name, or the model a variant is built on)."""
    return VARIANT_MODELS.get(name, name)


def entry_inputs(name: str) -> tuple[str, ...]:
    """The shared stage outputs an entry reads: only what its model's batch groups need, so that e.g.
    re-pretraining LIFT's encoder does not invalidate DIN's cached runs."""
    model = entry_model(name)
    groups = model_inputs(MODELS[model]) if model in MODELS else frozenset({"x"})
    return ("rows", "schema", *dict.fromkeys(d for g in sorted(groups) for d in _GROUP_INPUTS.get(g, ())))
