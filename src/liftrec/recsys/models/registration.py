"""The registry's tables and ``register``, apart from the model modules.

Model modules call :func:`register` when imported; :mod:`liftrec.recsys.models.registry` imports
every model module, so the tables are complete only through it. Keeping the tables here (importing
no model) lets a model module register itself without an import cycle, and keeps e.g. the encoder's
import closure free of every other model (the change-aware cache fingerprints that closure).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

Builder = Callable[..., nn.Module]

MODELS: dict[str, type] = {}
CONFIGS: dict[str, type] = {}
_BUILDERS: dict[str, Builder] = {}


def register(name: str, model_cls: type, config_cls: type, builder: Builder) -> None:
    """Add a model to the registry.

    Args:
        name: registry key (the ``model`` parameter's value).
        model_cls: the ``nn.Module`` class.
        config_cls: its frozen config dataclass.
        builder: ``builder(cfg, **context) -> nn.Module``.

    Raises:
        ValueError: when ``name`` is already registered.
    """
    if name in MODELS:
        raise ValueError(f"model '{name}' is already registered")
    MODELS[name], CONFIGS[name], _BUILDERS[name] = model_cls, config_cls, builder
