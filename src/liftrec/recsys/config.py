"""Typed configs: frozen dataclasses built from plain dicts that reject unknown keys.

``from_dict(Cls, d, path="pretrain")`` builds ``Cls`` (recursing into nested config dataclasses),
and raises :class:`ConfigError` naming the dotted parameter path of any unknown key, missing key
or value of the wrong type, so a typo in ``--params`` fails before any node runs. Range checks live
in each config's ``__post_init__`` via :func:`check`.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import types
import typing
from collections.abc import Iterable
from typing import Any, TypeVar

from liftrec.recsys.errors import ConfigError

T = TypeVar("T")


def check(ok: bool, path: str, message: str) -> None:
    """Raise ConfigError(``path: message``) unless ``ok``."""
    if not ok:
        raise ConfigError(f"parameter '{path}': {message}")


def _coerce(value: Any, tp: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, path)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"parameter '{path}': invalid value {value!r}")
    if origin is typing.Literal:
        check(value in args, path, f"expected one of {list(args)}, got {value!r}")
        return value
    if dataclasses.is_dataclass(tp):
        check(isinstance(value, dict), path, f"expected a mapping, got {value!r}")
        return from_dict(tp, value, path)
    if origin in (tuple, list):
        check(isinstance(value, (list, tuple)), path, f"expected a list, got {value!r}")
        inner = args[0] if args else Any
        return tuple(_coerce(v, inner, f"{path}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        check(isinstance(value, dict), path, f"expected a mapping, got {value!r}")
        return dict(value)
    if tp is bool:
        check(isinstance(value, bool), path, f"expected true/false, got {value!r}")
        return value
    if tp is int:
        check(
            isinstance(value, int) and not isinstance(value, bool),
            path,
            f"expected an integer, got {value!r}",
        )
        return value
    if tp is float:
        check(
            isinstance(value, (int, float)) and not isinstance(value, bool),
            path,
            f"expected a number, got {value!r}",
        )
        return float(value)
    if tp is str:
        check(isinstance(value, str), path, f"expected a string, got {value!r}")
        return value
    return value


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    # resolving string annotations is most of the cost of building a config; classes do not change
    return typing.get_type_hints(cls)


def flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    """A nested mapping as ``{"a.b.c": leaf}`` (non-mapping values are leaves)."""
    if isinstance(d, dict):
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: d}


def did_you_mean(wrong: str, known: Iterable[str], prefix: str = "") -> str:
    """The suffix "; did you mean 'x'?" for the closest known name (empty when none is close)."""
    close = difflib.get_close_matches(str(wrong), sorted(map(str, known)), n=1, cutoff=0.6)
    return f"; did you mean '{prefix}{close[0]}'?" if close else ""


def from_dict(cls: type[T], d: dict[str, Any] | None, path: str = "") -> T:
    """Build config dataclass ``cls`` from ``d``, rejecting unknown keys.

    Args:
        cls: a dataclass type.
        d: the parameter mapping (None means all defaults).
        path: dotted parameter path of ``d``, used in error messages.

    Returns:
        An instance of ``cls``.

    Raises:
        ConfigError: on an unknown or missing key or a value of the wrong type.
    """
    d = {} if d is None else d
    if not isinstance(d, dict):
        raise ConfigError(f"parameter '{path}': expected a mapping, got {d!r}")
    hints = _hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    prefix = f"{path}." if path else ""
    unknown = sorted(set(d) - names)
    if unknown:
        raise ConfigError(
            f"unknown parameter '{prefix}{unknown[0]}'; "
            f"known keys under '{path or '<root>'}': {sorted(names)}"
            + did_you_mean(unknown[0], names, prefix)
        )
    kwargs = {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        if f.name in d:
            kwargs[f.name] = _coerce(d[f.name], hints[f.name], prefix + f.name)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"missing parameter '{prefix}{f.name}'")
    try:
        return cls(**kwargs)
    except ConfigError as e:
        if path and "parameter '" in str(e) and f"'{path}." not in str(e):
            raise ConfigError(str(e).replace("parameter '", f"parameter '{prefix}", 1)) from None
        raise
