"""Label masking (exact counts, valid positions only, determinism, uniformity) and the losses."""

from __future__ import annotations

import math

import pytest
import torch

from liftrec.recsys.models.encoder import LABEL_MASK, LABEL_PAD
from liftrec.recsys.objectives import (
    bce_with_logits,
    bpr_loss,
    mask_labels,
    masked_bce_with_logits,
    sampled_softmax_loss,
)
from liftrec.recsys.objectives.masking import mask_counts

L = 10


def sequences() -> tuple[torch.Tensor, torch.Tensor]:
    """Row n has n valid positions (left-padded), n = 0..L."""
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 2, (L + 1, L), generator=g)
    valid = torch.arange(L)[None, :] >= (L - torch.arange(L + 1))[:, None]  # (L+1, L)
    return labels.masked_fill(~valid, LABEL_PAD), valid


@pytest.mark.parametrize("ratio", [0.1, 0.25, 0.5, 0.6, 0.85, 1.0])
def test_exact_counts_on_valid_positions_only(ratio: float) -> None:
    labels, valid = sequences()
    m = mask_labels(labels, valid, ratio, torch.Generator().manual_seed(1))
    expected = [0 if n == 0 else min(n, max(1, round(ratio * n))) for n in range(L + 1)]
    assert m.mask.sum(1).tolist() == expected
    assert not (m.mask & ~valid).any()
    assert (m.inputs[m.mask] == LABEL_MASK).all()
    assert torch.equal(m.inputs[~m.mask], labels[~m.mask])  # unmasked tokens, pads included, untouched
    assert torch.equal(m.targets[valid], labels[valid].float())
    assert m.targets.dtype == torch.float32 and m.mask.dtype == torch.bool


def test_counts_hand_values() -> None:
    n = torch.tensor([0, 1, 2, 3, 4, 5, 10])
    assert mask_counts(n, 0.5).tolist() == [0, 1, 1, 2, 2, 2, 5]  # round half to even, like round()
    assert mask_counts(n, 0.6).tolist() == [0, 1, 1, 2, 2, 3, 6]
    assert mask_counts(n, 0.05).tolist() == [0, 1, 1, 1, 1, 1, 1]  # at least one


def test_deterministic_by_generator() -> None:
    labels, valid = sequences()
    a = mask_labels(labels, valid, 0.5, torch.Generator().manual_seed(7))
    b = mask_labels(labels, valid, 0.5, torch.Generator().manual_seed(7))
    c = mask_labels(labels, valid, 0.5, torch.Generator().manual_seed(8))
    assert torch.equal(a.mask, b.mask) and torch.equal(a.inputs, b.inputs)
    assert not torch.equal(a.mask, c.mask)


def test_positions_are_uniform() -> None:
    labels = torch.zeros(4000, 8, dtype=torch.long)
    valid = torch.ones(4000, 8, dtype=torch.bool)
    valid[:, :3] = False  # 5 valid positions, 2 masked each (round(0.4 * 5))
    m = mask_labels(labels.masked_fill(~valid, LABEL_PAD), valid, 0.4, torch.Generator().manual_seed(3))
    freq = m.mask.float().mean(0)
    assert (freq[:3] == 0).all()
    # Each valid position masked with probability 2/5; binomial sd ~ 0.008 at n = 4000.
    assert torch.allclose(freq[3:], torch.full((5,), 0.4), atol=0.04)


def test_rejects_bad_input() -> None:
    labels, valid = sequences()
    for ratio in (0.0, 1.5):
        with pytest.raises(ValueError, match="ratio"):
            mask_labels(labels, valid, ratio, torch.Generator())
    with pytest.raises(ValueError, match="same"):
        mask_labels(labels, valid[:, 1:], 0.5, torch.Generator())


def test_masked_bce_hand_value_and_empty_mask() -> None:
    logits = torch.tensor([[0.0, 2.0, -1.0]], requires_grad=True)
    targets = torch.tensor([[1.0, 0.0, 1.0]])
    mask = torch.tensor([[True, False, True]])
    expected = (math.log(2) + math.log(1 + math.e)) / 2  # -log σ(0), -log σ(-1)
    assert masked_bce_with_logits(logits, targets, mask).item() == pytest.approx(expected, rel=1e-6)
    empty = masked_bce_with_logits(logits, targets, torch.zeros_like(mask))
    assert empty.item() == 0.0
    empty.backward()  # still attached to the graph
    assert logits.grad is not None and (logits.grad == 0).all()


def test_other_losses_hand_values() -> None:
    assert bce_with_logits(torch.tensor([0.0]), torch.tensor([1])).item() == pytest.approx(math.log(2))
    pos, neg = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 0.0])
    expected = (math.log(1 + math.exp(-1)) + math.log(2)) / 2
    assert bpr_loss(pos, neg).item() == pytest.approx(expected, rel=1e-6)
    assert bpr_loss(pos, neg[:, None].expand(2, 3)).item() == pytest.approx(expected, rel=1e-6)
    scores = torch.tensor([[2.0, 0.0, 0.0]])
    expected_ce = -math.log(math.exp(2) / (math.exp(2) + 2))
    assert sampled_softmax_loss(scores).item() == pytest.approx(expected_ce, rel=1e-6)
    rolled = sampled_softmax_loss(scores.roll(1, 1), torch.tensor([1]))
    assert rolled.item() == pytest.approx(expected_ce, rel=1e-6)
