"""Contract tests parametrised over the model registry (CONVENTIONS.md §12b).

Every registered model, built through ``build_model`` from a parameter dict: a tiny batch gives a
finite scalar loss, gradients reach every trainable parameter, a tiny seeded batch overfits, a
state-dict round trip gives identical predictions, and a parameter typo is a ConfigError naming it.
A newly registered model needs a factory in ``FACTORIES`` (model parameters, context, tiny batch),
or its contract test fails. The baseline test files check only what this file does not.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import Any

import pytest
import torch

from liftrec.recsys.errors import ConfigError
from liftrec.recsys.models.registry import CONFIGS, MODELS, build_model

CARD = (6, 9, 5, 4)
B = 16

Factory = Callable[[], tuple[dict[str, Any], dict[str, Any], dict[str, torch.Tensor]]]


def _fields(g: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.stack([torch.randint(1, c, shape, generator=g) for c in CARD], -1)


def _lift() -> tuple[dict[str, Any], dict[str, Any], dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    K, v = 3, 5
    valid = torch.ones(B, K, dtype=torch.bool)
    valid[0, 1:] = False
    batch = {
        "x": _fields(g, B),
        "keys": _fields(g, B, K),
        "key_valid": valid,
        "key_label": torch.randint(0, 2, (B, K), generator=g) * valid,
        "ret_hist": torch.randn(B, K, v, generator=g),
        "ret_fut": torch.randn(B, K, v, generator=g),
        "own_hist": torch.randn(B, v, generator=g),
        "label": torch.randint(0, 2, (B,), generator=g).float(),
    }
    return {"mlp": [32, 16], "dropout": 0.0}, {"cardinalities": CARD, "encoder_dim": v}, batch


def _mask_behaviour() -> tuple[dict[str, Any], dict[str, Any], dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    L = 6
    fields = _fields(g, B, L)
    labels = (fields[..., 1] % 2).long()  # learnable from the item field alone, whatever is masked
    cfg = {
        "mask_ratio": 0.5,
        "head_hidden": 16,
        "encoder": {"dim": 16, "layers": 1, "heads": 2, "max_len": L, "dropout": 0.0},
    }
    return cfg, {"cardinalities": CARD, "seed": 0}, {"fields": fields, "labels": labels}


FACTORIES: dict[str, Factory] = {"lift": _lift, "mask_behaviour": _mask_behaviour}
# the baselines' tiny batches live next to their own tests (same folder, imported by module name)
for _module in ("test_ctr_baselines", "test_topn_baselines", "test_retrieval_baselines"):
    FACTORIES.update(importlib.import_module(_module).CONTRACT_BATCHES)


def _factory(name: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, torch.Tensor]]:
    if name not in FACTORIES:
        pytest.fail(f"model '{name}' is registered but has no batch factory in FACTORIES")
    return FACTORIES[name]()


def _setup(name: str) -> tuple[torch.nn.Module, dict[str, Any], dict[str, Any], dict[str, torch.Tensor]]:
    cfg, context, batch = _factory(name)
    torch.manual_seed(0)
    return build_model(name, cfg, **context), cfg, context, batch


def _probs(out: torch.Tensor | tuple[torch.Tensor, ...]) -> torch.Tensor:
    return out[0] if isinstance(out, tuple) else out  # a pretrainer returns (probs, targets)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_finite_loss_and_predictions(name: str) -> None:
    model, _, _, batch = _setup(name)
    loss = model.loss(batch)
    assert loss.ndim == 0 and torch.isfinite(loss)
    p = _probs(model.eval().predict(batch))
    assert torch.isfinite(p).all() and ((p >= 0) & (p <= 1)).all()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_gradients_reach_every_parameter(name: str) -> None:
    model, _, _, batch = _setup(name)
    model.train().loss(batch).backward()
    dead = [
        n
        for n, p in model.named_parameters()
        if p.requires_grad and (p.grad is None or p.grad.abs().sum() == 0)
    ]
    assert not dead, f"no gradient reaches {dead}"


@pytest.mark.parametrize("name", sorted(MODELS))
def test_tiny_batch_overfits(name: str) -> None:
    model, _, _, batch = _setup(name)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = model.loss(batch).item()
    for _ in range(150):
        opt.zero_grad()
        loss = model.loss(batch)
        loss.backward()
        opt.step()
    assert loss.item() < min(0.1, 0.2 * first), (first, loss.item())


@pytest.mark.parametrize("name", sorted(MODELS))
def test_state_dict_round_trip(name: str) -> None:
    model, cfg, context, batch = _setup(name)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(3):  # move away from the initialisation
        opt.zero_grad()
        model.train().loss(batch).backward()
        opt.step()
    torch.manual_seed(123)  # a different init for the copy
    copy = build_model(name, cfg, **context)
    copy.load_state_dict(model.state_dict())
    expected = _probs(model.eval().predict(batch))
    torch.testing.assert_close(_probs(copy.eval().predict(batch)), expected, rtol=0, atol=0)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_config_typo_is_rejected_naming_the_key(name: str) -> None:
    _, context, _ = _factory(name)
    with pytest.raises(ConfigError, match=re.escape(f"{name}.field_dimm")):
        build_model(name, {"field_dimm": 4}, **context)


def test_registry_lists_known_models_on_unknown_name() -> None:
    assert "lift" in MODELS and set(MODELS) == set(CONFIGS)
    with pytest.raises(ConfigError, match=r"unknown model 'nope'.*'lift'"):
        build_model("nope", {})
    with pytest.raises(ConfigError, match="lift.mlpp"):
        build_model("lift", {"mlpp": [3]}, cardinalities=CARD, encoder_dim=4)
    with pytest.raises(ConfigError, match="encoder_dim"):
        build_model("lift", {}, cardinalities=CARD)
