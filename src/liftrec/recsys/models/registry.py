"""The explicit model registry: name -> model class, config class and builder.

Pipelines build every model through :func:`build_model` from a plain parameter dict (typed and
checked by :func:`liftrec.recsys.config.from_dict`, so a typo fails before training) plus the
context only the data knows (field cardinalities, the encoder's output size v, a seed). Each builder
takes the context keys it needs and ignores the rest, so a caller can pass one uniform context.

Adding a model = one module with a config dataclass and an ``nn.Module`` exposing ``inputs`` (the
batch groups it reads, :mod:`liftrec.recsys.models.batch`), ``loss(batch)`` and ``predict(batch)``,
that calls :func:`~liftrec.recsys.models.registration.register`; one import line at the end of this
file (the registry is complete only through this module); and one batch
factory in ``tests/recsys/models/test_registry_contract.py`` (the contract test fails without one).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping
from typing import Any

from torch import nn

from liftrec.recsys.config import from_dict
from liftrec.recsys.errors import ConfigError
from liftrec.recsys.models.lift import LiftConfig, LiftModel
from liftrec.recsys.models.registration import _BUILDERS, CONFIGS, MODELS, Builder, register  # noqa: F401

logger = logging.getLogger(__name__)


def _build_lift(
    cfg: LiftConfig,
    *,
    cardinalities: tuple[int, ...],
    encoder_dim: int,
    user_field_index: int | None = None,
    **_: Any,
) -> nn.Module:
    return LiftModel(cfg, cardinalities, encoder_dim, user_field_index)


register("lift", LiftModel, LiftConfig, _build_lift)

_PRETRAINER = "liftrec.recsys.models.pretrainer"
try:
    from liftrec.recsys.models.encoder import SequenceEncoder
    from liftrec.recsys.models.pretrainer import MaskBehaviourModel, PretrainConfig
except ModuleNotFoundError as e:  # only a missing pretrainer module is tolerated, not a broken one
    if e.name not in (_PRETRAINER, "liftrec.recsys.models.encoder"):
        raise
    logger.debug("model registry: %s not available, 'mask_behaviour' not registered", e.name)
else:

    def _build_mask_behaviour(
        cfg: PretrainConfig, *, cardinalities: tuple[int, ...], seed: int = 0, **_: Any
    ) -> nn.Module:
        return MaskBehaviourModel(SequenceEncoder(cfg.encoder, cardinalities), cfg, seed=seed)

    register("mask_behaviour", MaskBehaviourModel, PretrainConfig, _build_mask_behaviour)


def build_model(name: str, cfg: Mapping[str, Any] | object | None = None, **context: Any) -> nn.Module:
    """Build a registered model from its parameters.

    Args:
        name: registry key, e.g. "lift".
        cfg: the model's parameter dict (None = defaults), or an instance of its config class.
        **context: data-dependent arguments, e.g. ``cardinalities``, ``encoder_dim``, ``seed``.

    Returns:
        The model (on the CPU, in training mode).

    Raises:
        ConfigError: for an unknown name (listing the known ones) or bad parameters.
    """
    if name not in MODELS:
        raise ConfigError(f"parameter 'model': unknown model '{name}'; known models: {sorted(MODELS)}")
    config_cls = CONFIGS[name]
    if not isinstance(cfg, config_cls):
        cfg = from_dict(config_cls, None if cfg is None else dict(cfg), path=name)  # type: ignore[arg-type]
    builder = _BUILDERS[name]
    try:
        inspect.signature(builder).bind(cfg, **context)
    except TypeError as e:  # a missing context key: say which, before any construction
        raise ConfigError(f"model '{name}': {e}") from None
    return builder(cfg, **context)


# The baselines: each module registers itself at its end (``register(...)``); importing them here makes
# the registry complete and explicit. Order = the order of the results tables.
from liftrec.recsys.models import (  # noqa: E402, F401
    bert4rec,
    deepfm,
    dien,
    din,
    fpmc,
    gru4rec,
    narm,
    rim,
    sasrec,
    sim,
    transrec,
    ubr4ctr,
)
