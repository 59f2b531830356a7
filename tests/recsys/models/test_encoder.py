"""Contract tests of the sequence encoder, for every kind of the paper's Table 4."""

from __future__ import annotations

import pytest
import torch

from liftrec.recsys.config import from_dict
from liftrec.recsys.errors import ConfigError
from liftrec.recsys.models.encoder import LABEL_MASK, LABEL_PAD, EncoderConfig, SequenceEncoder

KINDS = ["transformer_decoder", "transformer_encoder", "gru"]
CARD = [7, 11, 5]


def make(kind: str, seed: int = 0, **kw) -> SequenceEncoder:
    cfg = EncoderConfig(kind=kind, dim=16, field_dim=4, layers=2, heads=2, dropout=0.0, max_len=10, **kw)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return SequenceEncoder(cfg, CARD).eval()


def batch(seed: int = 0, B: int = 5, L: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    fields = torch.stack([torch.randint(1, c, (B, L), generator=g) for c in CARD], dim=-1)  # (B, L, M)
    labels = torch.randint(0, 2, (B, L), generator=g)
    labels[1, :3] = LABEL_PAD  # left padding
    labels[2, :7] = LABEL_PAD
    labels[3, 4] = LABEL_MASK
    fields[labels == LABEL_PAD] = 0
    return fields, labels


@pytest.mark.parametrize("kind", KINDS)
def test_shapes_finite_and_zero_at_pads(kind: str) -> None:
    enc = make(kind)
    fields, labels = batch()
    h = enc(fields, labels)
    assert h.shape == (5, 8, 16) and enc.out_dim == 16
    assert torch.isfinite(h).all()
    assert (h[labels == LABEL_PAD] == 0).all()
    e = enc.encode(fields, labels)
    assert e.shape == (5, 16)
    torch.testing.assert_close(e, h[:, -1])  # left-padded: the last position


@pytest.mark.parametrize("kind", KINDS)
def test_gradients_reach_every_parameter(kind: str) -> None:
    enc = make(kind).train()
    fields, labels = batch()
    enc.encode(fields, labels).pow(2).sum().backward()
    for name, p in enc.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("kind", KINDS)
def test_future_positions_do_not_leak_into_the_past_unless_bidirectional(kind: str) -> None:
    enc = make(kind)
    fields, labels = batch()
    i = 4
    f2, l2 = fields.clone(), labels.clone()
    f2[:, i + 1 :] = torch.stack([torch.full_like(f2[:, i + 1 :, 0], c - 1) for c in CARD], dim=-1)
    l2[:, i + 1 :] = 1 - l2[:, i + 1 :].clamp(max=1)
    h1, h2 = enc(fields, labels), enc(f2, l2)
    rows = labels[:, i] != LABEL_PAD
    if kind == "transformer_encoder":
        assert not torch.allclose(h1[rows, : i + 1], h2[rows, : i + 1], atol=1e-4)  # the check is real
    else:
        torch.testing.assert_close(h1[:, : i + 1], h2[:, : i + 1], atol=1e-6, rtol=1e-6)
    assert not torch.allclose(h1[rows, i + 1 :], h2[rows, i + 1 :], atol=1e-4)


@pytest.mark.parametrize("kind", KINDS)
def test_padding_content_does_not_matter(kind: str) -> None:
    enc = make(kind)
    fields, labels = batch()
    pad = labels == LABEL_PAD
    f2 = fields.clone()
    g = torch.Generator().manual_seed(1)
    noise = torch.stack([torch.randint(0, c, fields.shape[:2], generator=g) for c in CARD], dim=-1)
    f2[pad] = noise[pad]
    torch.testing.assert_close(enc(fields, labels), enc(f2, labels), atol=0, rtol=0)
    torch.testing.assert_close(enc.encode(fields, labels), enc.encode(f2, labels), atol=0, rtol=0)


@pytest.mark.parametrize("kind", KINDS)
def test_number_of_leading_pads_does_not_matter(kind: str) -> None:
    enc = make(kind)
    fields, labels = batch()
    fields, labels = fields[:, 4:], labels[:, 4:].clamp(max=1)  # (B, 4), no pad, no mask
    pf = torch.zeros(5, 6, len(CARD), dtype=torch.long)
    pl = torch.full((5, 6), LABEL_PAD)
    long_f, long_l = torch.cat([pf, fields], 1), torch.cat([pl, labels], 1)  # (5, 10, M)
    torch.testing.assert_close(enc.encode(fields, labels), enc.encode(long_f, long_l), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_fully_padded_row_is_finite_zero(kind: str) -> None:
    enc = make(kind).train()  # also with dropout paths active
    fields, labels = batch()
    labels[0] = LABEL_PAD
    h = enc(fields, labels)
    assert torch.isfinite(h).all()
    assert (enc.encode(fields, labels)[0] == 0).all()
    enc.encode(fields, labels).sum().backward()  # and the backward pass stays finite
    assert all(torch.isfinite(p.grad).all() for p in enc.parameters() if p.grad is not None)


@pytest.mark.parametrize("kind", KINDS)
def test_encode_takes_last_valid_position_for_right_padding(kind: str) -> None:
    enc = make(kind)
    fields, labels = batch()
    labels[4, 5:] = LABEL_PAD
    h = enc(fields, labels)
    torch.testing.assert_close(enc.encode(fields, labels)[4], h[4, 4])


@pytest.mark.parametrize("kind", KINDS)
def test_state_dict_round_trip(kind: str) -> None:
    a, b = make(kind, seed=0), make(kind, seed=1)
    fields, labels = batch()
    assert not torch.allclose(a.encode(fields, labels), b.encode(fields, labels))
    b.load_state_dict(a.state_dict())
    torch.testing.assert_close(a.encode(fields, labels), b.encode(fields, labels), atol=0, rtol=0)


def test_config_validation() -> None:
    cfg = from_dict(EncoderConfig, {"kind": "gru", "dim": 8, "heads": 3}, "pretrain.encoder")
    assert cfg.kind == "gru"  # heads ignored by the GRU
    with pytest.raises(ConfigError, match="pretrain.encoder.heads"):
        from_dict(EncoderConfig, {"dim": 8, "heads": 3}, "pretrain.encoder")
    with pytest.raises(ConfigError, match="pretrain.encoder.kind"):
        from_dict(EncoderConfig, {"kind": "lstm"}, "pretrain.encoder")
    with pytest.raises(ConfigError, match="layer"):
        from_dict(EncoderConfig, {"layer": 2}, "pretrain.encoder")


def test_input_validation() -> None:
    enc = make("transformer_decoder")
    fields, labels = batch(L=11)
    with pytest.raises(ValueError, match="max_len"):
        enc(fields, labels)
    fields, labels = batch()
    with pytest.raises(ValueError, match="fields"):
        enc(fields[..., :2], labels)


@pytest.mark.parametrize("kind", KINDS)
def test_mean_pooling_averages_the_valid_states(kind: str) -> None:
    enc = make(kind, pooling="mean")
    fields, labels = batch()
    labels[1, :3] = LABEL_PAD
    labels[2] = LABEL_PAD
    h = enc(fields, labels)
    out = enc.encode(fields, labels)
    torch.testing.assert_close(out[1], h[1, 3:].mean(0))
    torch.testing.assert_close(out[0], h[0].mean(0))
    assert (out[2] == 0).all()  # an empty window is the zero vector, as with "last"


@pytest.mark.parametrize("kind", KINDS)
def test_blank_fields_make_the_output_ignore_those_codes(kind: str) -> None:
    fields, labels = batch()
    other = fields.clone()
    other[..., 0] = torch.where(labels == LABEL_PAD, 0, (other[..., 0] % (CARD[0] - 1)) + 1)  # new codes
    assert not torch.equal(other, fields)
    blank = make(kind, blank_fields=(0,))
    torch.testing.assert_close(blank(fields, labels), blank(other, labels))
    full = make(kind)  # the same weights without blanking do read field 0
    assert not torch.allclose(full(fields, labels), full(other, labels))


def test_blank_fields_outside_the_fields_are_rejected() -> None:
    with pytest.raises(ValueError, match="blank_fields"):
        make("gru", blank_fields=(3,))
    with pytest.raises(ConfigError, match="blank_fields"):
        from_dict(EncoderConfig, {"blank_fields": [-1]}, "pretrain.encoder")
