"""Mask-behaviour model: a planted rule is learnt, masks are deterministic, state round-trips."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from liftrec.recsys.config import from_dict
from liftrec.recsys.errors import ConfigError
from liftrec.recsys.models.encoder import LABEL_PAD, EncoderConfig, SequenceEncoder
from liftrec.recsys.models.pretrainer import MaskBehaviourModel, PretrainConfig, predict_masked
from liftrec.recsys.training import ArrayBatches, TrainConfig, fit, torch_seed

CARD = [9, 21]  # user-ish field, item field
L = 8


def planted(n: int, seed: int) -> dict[str, np.ndarray]:
    """Random windows whose label is the parity of the item code; some left padding."""
    rng = np.random.default_rng(seed)
    fields = np.stack([rng.integers(1, c, (n, L)) for c in CARD], axis=-1)  # (n, L, M)
    labels = fields[..., 1] % 2
    n_pad = rng.integers(0, L - 1, n)
    pad = np.arange(L)[None, :] < n_pad[:, None]
    fields[pad], labels[pad] = 0, LABEL_PAD
    return {"fields": fields.astype(np.int64), "labels": labels.astype(np.int64)}


def auc(scores: np.ndarray, targets: np.ndarray) -> float:
    """Mann-Whitney AUC (ties count half)."""
    pos, neg = scores[targets == 1], scores[targets == 0]
    return float(((pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])).mean())


def make(kind: str, seed: int = 0) -> MaskBehaviourModel:
    enc_cfg = EncoderConfig(kind=kind, dim=16, field_dim=8, layers=1, heads=2, dropout=0.0, max_len=L)
    cfg = PretrainConfig(mask_ratio=0.5, head_hidden=16, encoder=enc_cfg)
    with torch_seed(seed):
        return MaskBehaviourModel(SequenceEncoder(enc_cfg, CARD), cfg, seed=seed)


@pytest.mark.parametrize("kind", ["transformer_decoder", "transformer_encoder", "gru"])
def test_tiny_batch_overfits_planted_rule(kind: str) -> None:
    model = make(kind)
    data = planted(64, seed=0)
    train = ArrayBatches(data, 32, shuffle=True, seed=0)
    held_out = ArrayBatches(planted(64, seed=1), 64, shuffle=False, seed=0)
    cfg = TrainConfig(epochs=25, lr=1e-2, patience=25, device="cpu")
    first = model.loss({k: torch.from_numpy(v) for k, v in data.items()}).item()
    res = fit(model, train, cfg, seed=0)
    last = res.history[-1]["train_loss"]
    assert first > 0.6 and last < 0.2 * math.log(2), (first, last)
    p, t = predict_masked(model, held_out)
    assert len(p) == len(t) > 100
    assert auc(p, t) > 0.95  # item parity generalises to unseen windows of the same items


def test_predict_is_deterministic_and_masks_only_valid() -> None:
    model = make("transformer_decoder").eval()
    batch = {k: torch.from_numpy(v) for k, v in planted(16, seed=2).items()}
    p1, t1 = model.predict(batch)
    p2, t2 = model.predict(batch)
    assert torch.equal(p1, p2) and torch.equal(t1, t2)
    n_valid = (batch["labels"] != LABEL_PAD).sum(1)
    expected = sum(max(1, round(0.5 * int(n))) for n in n_valid)
    assert len(p1) == expected and ((p1 > 0) & (p1 < 1)).all()


def test_training_masks_advance_and_state_dict_round_trip() -> None:
    a, b = make("transformer_decoder", seed=0), make("transformer_decoder", seed=1)
    a.eval(), b.eval()
    batch = {k: torch.from_numpy(v) for k, v in planted(16, seed=3).items()}
    a.loss(batch)  # advance a's mask generator
    b.load_state_dict(a.state_dict())
    assert "_extra_state" in a.state_dict()
    assert set(a.encoder.state_dict()) == set(b.encoder.state_dict())
    assert "_extra_state" not in a.encoder.state_dict()  # the encoder alone stays clean
    # Same weights and same generator state: the next training losses (masks) agree exactly.
    assert a.loss(batch).item() == b.loss(batch).item()
    la = [a.loss(batch).item() for _ in range(3)]
    assert len(set(la)) > 1  # a new mask every call
    torch.testing.assert_close(a.predict(batch)[0], b.predict(batch)[0], atol=0, rtol=0)


def test_config() -> None:
    cfg = from_dict(PretrainConfig, {"mask_ratio": 0.3, "encoder": {"kind": "gru", "dim": 8}}, "pretrain")
    assert cfg.encoder.kind == "gru" and cfg.encoder.dim == 8 and cfg.head_hidden == 64
    for bad in (0.0, 1.0):
        with pytest.raises(ConfigError, match="pretrain.mask_ratio"):
            from_dict(PretrainConfig, {"mask_ratio": bad}, "pretrain")
    with pytest.raises(ConfigError, match="pretrain.encoder.dimm"):
        from_dict(PretrainConfig, {"encoder": {"dimm": 8}}, "pretrain")


def test_next_field_objective_adds_a_cross_entropy_on_the_next_value() -> None:
    card = (5, 7, 4)
    enc_cfg = EncoderConfig(dim=8, field_dim=4, layers=1, heads=2, dropout=0.0, max_len=6)
    g = torch.Generator().manual_seed(0)
    fields = torch.stack([torch.randint(1, c, (4, 6), generator=g) for c in card], -1)
    labels = torch.randint(0, 2, (4, 6), generator=g)
    batch = {"fields": fields, "labels": labels}
    torch.manual_seed(0)
    plain = MaskBehaviourModel(SequenceEncoder(enc_cfg, card), PretrainConfig(mask_ratio=0.5), seed=1)
    torch.manual_seed(0)
    aux = MaskBehaviourModel(
        SequenceEncoder(enc_cfg, card), PretrainConfig(mask_ratio=0.5, next_field=2), seed=1
    )
    aux.load_state_dict(plain.state_dict(), strict=False)  # same encoder, head and mask stream
    extra = aux.loss(batch) - plain.loss(batch)
    assert extra.item() > 0.5  # ~log(4): an untrained softmax over the 4 codes of field 2
    with pytest.raises(ValueError, match="next_field 3"):
        MaskBehaviourModel(SequenceEncoder(enc_cfg, card), PretrainConfig(next_field=3))


def test_last_state_predicts_the_interaction_after_the_window() -> None:
    """ "next_after" adds o_T's cross-entropy; -1 (the window ends the retrieval period) adds nothing."""
    card = (5, 7, 4)
    enc_cfg = EncoderConfig(dim=8, field_dim=4, layers=1, heads=2, dropout=0.0, max_len=6)
    g = torch.Generator().manual_seed(0)
    fields = torch.stack([torch.randint(1, c, (4, 6), generator=g) for c in card], -1)
    labels = torch.randint(0, 2, (4, 6), generator=g)
    torch.manual_seed(0)
    model = MaskBehaviourModel(SequenceEncoder(enc_cfg, card), PretrainConfig(next_field=2), seed=1)
    model.eval()
    hidden = model.encoder(fields, labels)
    base = model._next_loss(hidden, {"fields": fields, "labels": labels})
    none = model._next_loss(hidden, {"fields": fields, "labels": labels, "next_after": torch.full((4,), -1)})
    torch.testing.assert_close(none, base)
    after = torch.tensor([1, 2, -1, 3])
    with_last = model._next_loss(hidden, {"fields": fields, "labels": labels, "next_after": after})
    states = torch.cat([hidden[:, :-1].reshape(-1, 8), hidden[[0, 1, 3], -1]])
    targets = torch.cat([fields[:, 1:, 2].reshape(-1), after[[0, 1, 3]]])
    expected = torch.nn.functional.cross_entropy(model.next_head(states), targets)
    torch.testing.assert_close(with_last, expected)
