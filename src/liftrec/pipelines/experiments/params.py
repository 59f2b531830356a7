"""Validation of the experiments' parameters before any node runs (``experiments``, ``experiment_models``).

Registered in :mod:`liftrec.pipelines.params` for runs that include the experiments pipeline: a typo
in one entry's model parameters, a missing entry or a K beyond the run's retrieval fails in
about a millisecond, not after the other entries have trained for hours. Nodes do not import this module
(their cache fingerprints do not depend on it).
"""

from __future__ import annotations

from typing import Any

from liftrec.pipelines.params import build, retrieval_config
from liftrec.recsys.errors import ConfigError

PARAMETERS_FILE = "conf/base/parameters_experiments.yml"


def validate_experiments(params: dict[str, Any]) -> None:
    """Build the experiments' config, every table entry and its model's config; check K and the timed models.

    Args:
        params: the run's parameters.

    Raises:
        ConfigError: naming the parameter at fault.
    """
    from liftrec.pipelines.experiments.entries import entries, entry_model
    from liftrec.recsys.models.fitted import FITTED_MODELS
    from liftrec.recsys.models.registry import CONFIGS, MODELS
    from liftrec.recsys.training.loop import TrainConfig
    from liftrec.recsys.workflows.experiments import EntryConfig, ExperimentsConfig

    cfg = build(ExperimentsConfig, params.get("experiments"), "experiments")
    models = params.get("experiment_models")
    if models is None:
        models = {}
    if not isinstance(models, dict):
        raise ConfigError(
            f"parameter 'experiment_models': expected a mapping of table entries, got {models!r}"
        )
    names = entries()
    unknown = sorted(set(models) - set(names))
    if unknown:
        raise ConfigError(
            f"parameter 'experiment_models.{unknown[0]}': not a table entry; the entries are the "
            f"registered models, GBDT and LIFT's variants: {list(names)}"
        )
    base = {f: getattr(cfg.training, f) for f in TrainConfig.__dataclass_fields__}
    device = params.get("device", "auto")
    known_fields = _known_fields(params)
    for name in names:
        path = f"experiment_models.{name}"
        if models.get(name) is None:
            raise ConfigError(
                f"parameter '{path}' is missing: every table entry needs one ({PARAMETERS_FILE})"
            )
        spec = build(EntryConfig, models[name], path)
        if spec.model != entry_model(name):
            raise ConfigError(
                f"parameter '{path}.model': the entry '{name}' trains '{entry_model(name)}', "
                f"got '{spec.model}'"
            )
        if spec.training:  # empty: the shared settings, already built
            build(TrainConfig, {**base, "device": device, **spec.training}, f"{path}.training")
        if not spec.params:  # empty: the model's defaults
            continue
        config_cls = FITTED_MODELS[spec.model][1] if spec.model in FITTED_MODELS else CONFIGS[spec.model]
        model_cfg = build(config_cls, spec.params, f"{path}.params")
        query = tuple(getattr(model_cfg, "query_fields", ()) or ())
        missing = [f for f in query if known_fields is not None and f not in known_fields]
        if missing:
            raise ConfigError(
                f"parameter '{path}.params.query_fields': {missing} not among the fields of "
                f"{params.get('dataset')}: {list(known_fields)}"
            )
    k = retrieval_config(params.get("retrieval"))[0].k
    too_large = [v for v in cfg.k_values if v > k]
    if too_large:
        raise ConfigError(
            f"parameter 'experiments.k_values': {too_large} exceed retrieval.k = {k} (the K sweep "
            "trains on prefixes of the one top-K retrieval: raise retrieval.k or lower the values)"
        )
    bad = [m for m in cfg.inference_models if m not in MODELS or m == "mask_behaviour"]
    if bad:
        raise ConfigError(
            f"parameter 'experiments.inference_models': unknown models {bad}; known: "
            f"{sorted(n for n in MODELS if n != 'mask_behaviour')}"
        )


def _known_fields(params: dict[str, Any]) -> tuple[str, ...] | None:
    from liftrec.pipelines.params import _dataset_fields

    try:
        return _dataset_fields(params)
    except ConfigError:
        return None  # an unknown dataset is reported by the data stages' own validation
