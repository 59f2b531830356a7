"""Window tokenisation and seeded array batching."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from liftrec.recsys.models.encoder import LABEL_PAD
from liftrec.recsys.schema import PAD
from liftrec.recsys.training import ArrayBatches, window_tokens


def test_window_tokens_hand_example() -> None:
    X = np.array([[1, 5], [2, 6], [3, 7]], dtype=np.int32)
    y = np.array([1, 0, 1], dtype=np.int8)
    rows = np.array([[PAD, 0, 2], [PAD, PAD, PAD], [2, 1, 0]])
    fields, labels = window_tokens(rows, X, y)
    assert fields.dtype == np.int64 and labels.dtype == np.int64
    assert fields.shape == (3, 3, 2) and labels.shape == (3, 3)
    assert fields.tolist() == [[[0, 0], [1, 5], [3, 7]], [[0, 0]] * 3, [[3, 7], [2, 6], [1, 5]]]
    assert labels.tolist() == [[LABEL_PAD, 1, 1], [LABEL_PAD] * 3, [1, 0, 1]]


def test_window_tokens_edges() -> None:
    X, y = np.zeros((0, 2), np.int64), np.zeros(0, np.int8)
    fields, labels = window_tokens(np.full((2, 3), PAD), X, y)
    assert (fields == 0).all() and fields.shape == (2, 3, 2) and (labels == LABEL_PAD).all()
    with pytest.raises(IndexError, match="row id 3"):
        window_tokens(np.array([[0, 3]]), np.ones((3, 1), np.int64), np.ones(3))
    with pytest.raises(IndexError, match="row id -2"):
        window_tokens(np.array([[-2, 0]]), np.ones((3, 1), np.int64), np.ones(3))


def collect(batches: ArrayBatches, key: str = "i") -> list[np.ndarray]:
    return [b[key].numpy() for b in batches]


def test_covers_every_index_once_per_epoch() -> None:
    ab = ArrayBatches({"i": np.arange(103), "x": np.arange(103) * 2.0}, 10, shuffle=True, seed=0)
    assert len(ab) == 11
    seen = []
    for _ in range(3):
        parts = list(ab)
        assert len(parts) == 11 and all(set(p) == {"i", "x"} for p in parts)
        assert all(torch.equal(p["x"], p["i"] * 2.0) for p in parts)  # arrays stay aligned
        order = np.concatenate([p["i"].numpy() for p in parts])
        assert sorted(order.tolist()) == list(range(103))
        seen.append(order)
    assert not np.array_equal(seen[0], seen[1])  # a new permutation each epoch


def test_seeded_shuffling_and_set_epoch() -> None:
    def make(seed: int) -> ArrayBatches:
        return ArrayBatches({"i": np.arange(50)}, 8, shuffle=True, seed=seed)

    a, b, c = make(1), make(1), make(2)
    ea0, ea1 = collect(a), collect(a)
    eb0 = collect(b)
    assert all(np.array_equal(u, v) for u, v in zip(ea0, eb0, strict=True))
    assert not all(np.array_equal(u, v) for u, v in zip(ea0, collect(c), strict=True))
    b.set_epoch(1)  # resume at epoch 1: the same batches as an uninterrupted second pass
    assert all(np.array_equal(u, v) for u, v in zip(ea1, collect(b), strict=True))
    assert all(np.all(np.diff(u) > 0) for u in ea0)  # indices sorted within a batch


def test_no_shuffle_drop_last_and_transform() -> None:
    ab = ArrayBatches({"i": np.arange(10)}, 4, shuffle=False, seed=0, drop_last=True)
    assert len(ab) == 2 and [u.tolist() for u in collect(ab)] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    ab = ArrayBatches({"i": np.arange(10)}, 4, shuffle=False, seed=0)
    assert len(ab) == 3 and collect(ab)[-1].tolist() == [8, 9]

    def square(part: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"sq": part["i"] ** 2, "i": part["i"]}

    ab = ArrayBatches({"i": np.arange(6)}, 4, shuffle=True, seed=3, transform=square)
    for b in ab:
        assert torch.equal(b["sq"], b["i"] ** 2)


def test_memmap_input_without_warnings(tmp_path) -> None:
    path = tmp_path / "x.npy"
    np.save(path, np.arange(40, dtype=np.int64).reshape(20, 2))
    mm = np.load(path, mmap_mode="r")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch warns on non-writable arrays: we copy instead
        for shuffle in (False, True):
            parts = list(ArrayBatches({"x": mm}, 6, shuffle=shuffle, seed=0))
            got = torch.cat([p["x"] for p in parts]).numpy()
            assert sorted(got[:, 0].tolist()) == list(range(0, 40, 2))


def test_rejects_misaligned_or_empty() -> None:
    with pytest.raises(ValueError, match="first dimension"):
        ArrayBatches({"a": np.arange(3), "b": np.arange(4)}, 2, shuffle=False, seed=0)
    with pytest.raises(ValueError, match="at least one"):
        ArrayBatches({}, 2, shuffle=False, seed=0)
    with pytest.raises(ValueError, match="batch_size"):
        ArrayBatches({"a": np.arange(3)}, 0, shuffle=False, seed=0)
