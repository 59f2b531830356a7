"""pretrain_encoder: the same seed gives the same encoder, whatever torch's global RNG state."""

from __future__ import annotations

import pytest
import torch

from liftrec.recsys.config import from_dict
from liftrec.recsys.errors import ConfigError
from liftrec.recsys.workflows.pretrain import PretrainStageConfig, pretrain_encoder

LENGTH = 6  # the windows of the tiny_stages fixture (conftest.py)


def _tiny_config(epochs: int) -> PretrainStageConfig:
    return from_dict(
        PretrainStageConfig,
        {"encoder": {"dim": 8, "field_dim": 4, "layers": 1, "heads": 2, "max_len": LENGTH},
         "training": {"epochs": epochs, "batch_size": 32}},
        "pretrain",
    )  # fmt: skip


def _pretrain(stages: dict, seed: int) -> dict:
    cfg = _tiny_config(epochs=2)
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


def test_user_fields_are_blanked_unless_encode_user_fields(tiny_stages: dict) -> None:
    from liftrec.recsys.workflows.pretrain import load_encoder

    schema = tiny_stages["schema"]
    user_idx = tuple(list(schema.fields).index(f) for f in schema.user_fields)
    assert user_idx  # the fixture has a user-side field
    default = from_dict(PretrainStageConfig, {}, "pretrain")
    assert default.encoder_config(schema).blank_fields == user_idx
    keep = from_dict(PretrainStageConfig, {"encode_user_fields": True}, "pretrain")
    assert keep.encoder_config(schema).blank_fields == ()
    s = tiny_stages
    package, _ = pretrain_encoder(s["rows"], s["windows"], schema, _tiny_config(epochs=1), LENGTH, 0)
    assert load_encoder(package).cfg.blank_fields == user_idx  # the package rebuilds the same encoder


def test_bad_encode_user_fields_and_a_hand_set_blank_fields_are_rejected() -> None:
    with pytest.raises(ConfigError, match="pretrain.encode_user_fields.*true/false"):
        from_dict(PretrainStageConfig, {"encode_user_fields": "yes"}, "pretrain")
    with pytest.raises(ConfigError, match="pretrain.encoder.blank_fields.*leave it unset"):
        from_dict(PretrainStageConfig, {"encoder": {"blank_fields": [0]}}, "pretrain")


def test_next_after_is_the_next_retrieval_row_of_the_same_user(tiny_stages: dict) -> None:
    import numpy as np

    from liftrec.recsys.schema import PERIOD, RETRIEVAL, USER_ID
    from liftrec.recsys.workflows.pretrain import WindowTokens, row_after_window

    rows, w = tiny_stages["rows"], tiny_stages["windows"]
    pool, lo, hi = w["pool_index"], w["seq_lo"], w["seq_hi"]
    users = rows[USER_ID].to_numpy()[pool[lo]]
    X = rows[["user", "item", "category", "behavior"]].to_numpy()
    tokens = WindowTokens(X, rows["label"].to_numpy(), pool, LENGTH, next_after=2)
    out = tokens({"lo": lo, "hi": hi, "next_row": row_after_window(pool, hi, rows)})["next_after"]
    period, uid = rows[PERIOD].to_numpy(), rows[USER_ID].to_numpy()
    for i in range(len(lo)):
        nxt = pool[hi[i]] if hi[i] < len(pool) else None
        same = nxt is not None and uid[nxt] == users[i] and period[nxt] == RETRIEVAL
        assert out[i] == (X[nxt, 2] if same else -1), i
    assert (out >= 0).any() and (out == -1).any()
    assert np.isin(out, np.append(X[:, 2], -1)).all()
