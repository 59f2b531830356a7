"""pretrain_encoder: the same seed gives the same encoder, whatever torch's global RNG state."""

from __future__ import annotations

import torch

from liftrec.recsys.config import from_dict
from liftrec.recsys.workflows.pretrain import PretrainStageConfig, pretrain_encoder

LENGTH = 6  # the windows of the tiny_stages fixture (conftest.py)


def _pretrain(stages: dict, seed: int) -> dict:
    cfg = from_dict(
        PretrainStageConfig,
        {"encoder": {"dim": 8, "field_dim": 4, "layers": 1, "heads": 2, "max_len": LENGTH},
         "training": {"epochs": 2, "batch_size": 32}},
        "pretrain",
    )  # fmt: skip
    s = stages
    package, metrics = pretrain_encoder(s["rows"], s["windows"], s["schema"], cfg, LENGTH, seed)
    return {"state": package["state_dict"], "curve": metrics["curve.train_loss"]}


def test_same_seed_same_encoder_whatever_the_global_rng(tiny_stages: dict) -> None:
    torch.manual_seed(1)
    a = _pretrain(tiny_stages, seed=5)
    torch.manual_seed(2)  # a different global state: the pretraining heads must not draw from it
    b = _pretrain(tiny_stages, seed=5)
    assert a["curve"] == b["curve"]
    assert a["state"].keys() == b["state"].keys()
    assert all(torch.equal(a["state"][k], b["state"][k]) for k in a["state"])
    c = _pretrain(tiny_stages, seed=6)
    assert c["curve"] != a["curve"]
