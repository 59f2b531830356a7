"""The generic fit loop: early stopping, best state, callbacks, atomic checkpoints and exact resume."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from liftrec.recsys.config import from_dict
from liftrec.recsys.errors import ConfigError
from liftrec.recsys.models.encoder import EncoderConfig, SequenceEncoder
from liftrec.recsys.models.pretrainer import MaskBehaviourModel, PretrainConfig
from liftrec.recsys.training import (
    ArrayBatches,
    Callback,
    ProgressCallback,
    TrainConfig,
    fit,
    move_batch,
    resolve_device,
    torch_seed,
)
from liftrec.recsys.training.checkpoint import CHECKPOINT_NAME


class Tiny(nn.Module):
    """Logistic MLP with dropout, so the loop's torch RNG handling matters."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.3), nn.Linear(8, 1))

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        logits = self.net(batch["x"]).squeeze(-1)  # (B,)
        return nn.functional.binary_cross_entropy_with_logits(logits, batch["y"])


def tiny() -> Tiny:
    with torch_seed(0):
        return Tiny()


def tiny_data() -> ArrayBatches:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 4)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.float32)
    return ArrayBatches({"x": x, "y": y}, 16, shuffle=True, seed=0)


def mbm() -> MaskBehaviourModel:
    enc_cfg = EncoderConfig(dim=8, field_dim=4, layers=1, heads=2, dropout=0.2, max_len=6)
    with torch_seed(0):
        return MaskBehaviourModel(SequenceEncoder(enc_cfg, [5, 7]), PretrainConfig(encoder=enc_cfg), seed=0)


def mbm_data() -> ArrayBatches:
    rng = np.random.default_rng(0)
    fields = np.stack([rng.integers(1, 5, (40, 6)), rng.integers(1, 7, (40, 6))], -1)
    return ArrayBatches({"fields": fields, "labels": fields[..., 1] % 2}, 8, shuffle=True, seed=0)


CASES: list[tuple[Callable[[], nn.Module], Callable[[], ArrayBatches]]] = [(tiny, tiny_data), (mbm, mbm_data)]
CPU = dict(device="cpu", lr=1e-2)


def states_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_trains_and_reports_history() -> None:
    model = tiny()
    res = fit(model, tiny_data(), TrainConfig(epochs=3, patience=3, **CPU), seed=0)
    assert [h["epoch"] for h in res.history] == [1, 2, 3]
    h = res.history[-1]
    assert set(h) >= {"train_loss", "valid_score", "seconds", "samples_per_s", "samples", "batches"}
    assert h["samples"] == 96 and h["batches"] == 6 and h["samples_per_s"] > 0 and h["valid_score"] is None
    assert res.history[-1]["train_loss"] < res.history[0]["train_loss"]
    losses = [x["train_loss"] for x in res.history]
    assert res.best_epoch == 1 + int(np.argmin(losses)) and res.best_score == -min(losses)
    assert not res.resumed


def test_early_stopping_keeps_best_state() -> None:
    scores = iter([0.5, 0.6, 0.55, 0.58, 0.9, 0.95])
    snapshots: list[dict] = []

    def evaluate(m: nn.Module) -> float:
        assert not torch.is_grad_enabled() and not m.training
        snapshots.append({k: v.clone() for k, v in m.state_dict().items()})
        return next(scores)

    model = tiny()
    res = fit(model, tiny_data(), TrainConfig(epochs=6, patience=2, **CPU), seed=0, evaluate=evaluate)
    assert len(res.history) == 4  # epochs 3 and 4 did not beat epoch 2
    assert res.best_epoch == 2 and res.best_score == 0.6
    assert [h["valid_score"] for h in res.history] == [0.5, 0.6, 0.55, 0.58]
    assert states_equal(res.state_dict, snapshots[1])
    assert states_equal(model.state_dict(), snapshots[1]) and not model.training  # best state, eval mode
    assert not states_equal(snapshots[3], snapshots[1])


def test_callbacks_see_every_step_and_can_stop() -> None:
    class Recorder(Callback):
        def __init__(self) -> None:
            self.steps: list[int] = []
            self.epochs: list[int] = []
            self.ended = False

        def on_batch_end(self, step: int, logs: dict) -> None:
            self.steps.append(step)
            assert logs["loss"].dim() == 0

        def on_epoch_end(self, epoch: int, logs: dict) -> bool:
            self.epochs.append(epoch)
            return epoch == 2

        def on_train_end(self, logs: dict) -> None:
            self.ended = True

    rec = Recorder()
    res = fit(
        tiny(),
        tiny_data(),
        TrainConfig(epochs=5, patience=5, max_batches_per_epoch=4, **CPU),
        seed=0,
        callbacks=[rec],
    )
    assert rec.epochs == [1, 2] and rec.steps == list(range(1, 9)) and rec.ended
    assert [h["batches"] for h in res.history] == [4, 4]


@pytest.mark.parametrize(("make_model", "make_data"), CASES, ids=["tiny", "mask_behaviour"])
def test_resume_reproduces_uninterrupted_run(tmp_path: Path, make_model, make_data) -> None:
    cfg4 = TrainConfig(epochs=4, patience=4, **CPU)
    straight = fit(make_model(), make_data(), cfg4, seed=3, checkpoint_dir=tmp_path / "a")
    first = fit(
        make_model(),
        make_data(),
        TrainConfig(epochs=2, patience=4, **CPU),
        seed=3,
        checkpoint_dir=tmp_path / "b",
    )
    assert not first.resumed and len(first.history) == 2
    model = make_model()
    resumed = fit(model, make_data(), cfg4, seed=3, checkpoint_dir=tmp_path / "b")
    assert resumed.resumed and len(resumed.history) == 4
    assert [h["train_loss"] for h in resumed.history] == [h["train_loss"] for h in straight.history]
    assert states_equal(resumed.state_dict, straight.state_dict)
    assert resumed.best_epoch == straight.best_epoch
    ckpt = torch.load(tmp_path / "b" / CHECKPOINT_NAME, weights_only=True)
    straight_ckpt = torch.load(tmp_path / "a" / CHECKPOINT_NAME, weights_only=True)
    assert states_equal(ckpt["model"], straight_ckpt["model"])  # last state too, not only the best
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == [CHECKPOINT_NAME]  # no temp files left


def test_finished_run_is_not_retrained(tmp_path: Path) -> None:
    cfg = TrainConfig(epochs=2, patience=2, **CPU)
    a = fit(tiny(), tiny_data(), cfg, seed=0, checkpoint_dir=tmp_path)
    b = fit(tiny(), tiny_data(), cfg, seed=0, checkpoint_dir=tmp_path)
    assert b.resumed and b.history == a.history and states_equal(a.state_dict, b.state_dict)


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_damaged_checkpoint_is_ignored(tmp_path: Path, caplog, damage: str) -> None:
    cfg = TrainConfig(epochs=2, patience=2, **CPU)
    clean = fit(tiny(), tiny_data(), cfg, seed=0)
    fit(tiny(), tiny_data(), TrainConfig(epochs=1, patience=2, **CPU), seed=0, checkpoint_dir=tmp_path)
    path = tmp_path / CHECKPOINT_NAME
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"not a checkpoint")
    with caplog.at_level(logging.WARNING):
        res = fit(tiny(), tiny_data(), cfg, seed=0, checkpoint_dir=tmp_path)
    assert "ignoring unreadable checkpoint" in caplog.text
    assert not res.resumed and len(res.history) == 2
    assert states_equal(res.state_dict, clean.state_dict)
    assert torch.load(path, weights_only=True)["epoch"] == 2  # replaced by a good one


def test_checkpoint_from_other_settings_or_model_is_ignored(tmp_path: Path, caplog) -> None:
    fit(tiny(), tiny_data(), TrainConfig(epochs=1, patience=2, **CPU), seed=0, checkpoint_dir=tmp_path)
    with caplog.at_level(logging.WARNING):
        res = fit(
            tiny(),
            tiny_data(),
            TrainConfig(epochs=2, patience=2, device="cpu", lr=5e-3),
            seed=0,
            checkpoint_dir=tmp_path,
        )
    assert not res.resumed and "other settings" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        res = fit(
            mbm(),
            mbm_data(),
            TrainConfig(epochs=1, patience=2, device="cpu", lr=5e-3),
            seed=0,
            checkpoint_dir=tmp_path,
        )
    assert not res.resumed and "does not match this model" in caplog.text


def test_global_rng_untouched_and_errors() -> None:
    before = torch.get_rng_state()
    fit(tiny(), tiny_data(), TrainConfig(epochs=1, **CPU), seed=0)
    assert torch.equal(before, torch.get_rng_state())

    def once():
        yield from tiny_data()

    with pytest.raises(ValueError, match="no batch in epoch 2"):
        fit(tiny(), once(), TrainConfig(epochs=2, patience=2, **CPU), seed=0)

    class Nan(Tiny):
        def loss(self, batch):
            return super().loss(batch) * float("nan")

    with pytest.raises(FloatingPointError, match="epoch 1"):
        fit(Nan(), tiny_data(), TrainConfig(epochs=1, **CPU), seed=0)


def test_train_config_and_device() -> None:
    d = {"epochs": 3, "max_batches_per_epoch": None, "grad_clip": None}
    cfg = from_dict(TrainConfig, d, "pretrain.training")
    assert cfg.epochs == 3 and cfg.grad_clip is None
    for bad in ({"patience": 0}, {"lr": 0}, {"max_batches_per_epoch": 0}, {"epoch": 3}):
        with pytest.raises(ConfigError, match="pretrain.training"):
            from_dict(TrainConfig, bad, "pretrain.training")
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ConfigError, match="device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="not available"):
            resolve_device("cuda:0")
    moved = move_batch({"a": torch.ones(2), "n": 3}, "cpu")
    assert moved["a"].device.type == "cpu" and moved["n"] == 3


def test_progress_is_quiet_in_ci(monkeypatch) -> None:
    monkeypatch.setenv("CI", "true")
    assert not ProgressCallback().enabled
    forced = ProgressCallback(enabled=True, refresh_every=1)  # the bar itself works
    fit(tiny(), tiny_data(), TrainConfig(epochs=1, **CPU), seed=0, callbacks=[forced])
