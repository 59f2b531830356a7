"""Mini-batches over aligned numpy arrays (memmaps allowed) and window tokenisation.

``ArrayBatches`` yields ``dict[str, torch.Tensor]`` batches on the CPU; the training loop moves them
to the device. Shuffling draws one permutation per epoch from ``numpy.random.default_rng([seed,
epoch])``, so epoch e's order depends only on (seed, e): a resumed run sees the same batches as an
uninterrupted one (the loop calls ``set_epoch``, like ``DistributedSampler``). Within a shuffled
batch the indices are sorted, so memmapped arrays are read front to back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch

from liftrec.recsys.models.encoder import LABEL_PAD
from liftrec.recsys.schema import PAD

Transform = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


def window_tokens(row_ids: np.ndarray, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gather the field codes and labels of windows of row ids.

    Args:
        row_ids: (B, L) int row ids into the rows table, ``PAD`` (-1) at padding.
        X: (N, M) field codes of the rows table (memmap allowed).
        y: (N,) labels of the rows table (0/1).

    Returns:
        fields (B, L, M) int64 with 0 at pads, and labels (B, L) int64 with LABEL_PAD at pads.

    Raises:
        IndexError: when a row id is outside [0, N) and not PAD.
    """
    row_ids = np.asarray(row_ids)
    pad = row_ids == PAD  # (B, L)
    n = X.shape[0]
    bad = ~pad & ((row_ids < 0) | (row_ids >= n))
    if bad.any():
        raise IndexError(f"row id {row_ids[bad][0]} outside the rows table of {n} rows")
    if n == 0:  # only pads: nothing to gather
        return (np.zeros((*row_ids.shape, X.shape[1]), np.int64), np.full(row_ids.shape, LABEL_PAD, np.int64))
    idx = np.where(pad, 0, row_ids)  # (B, L)
    fields = np.asarray(X[idx], dtype=np.int64)  # (B, L, M)
    fields[pad] = 0
    labels = np.asarray(y[idx], dtype=np.int64)  # (B, L)
    labels[pad] = LABEL_PAD
    return fields, labels


def _to_tensor(a: np.ndarray) -> torch.Tensor:
    # torch.from_numpy needs a writable C-contiguous array; memmap slices are neither, so copy then.
    return torch.from_numpy(np.require(a, requirements=["C", "W"]))


class ArrayBatches:
    """Iterable of ``dict[str, torch.Tensor]`` batches over aligned arrays.

    Args:
        arrays: name -> array, all with the same first dimension.
        batch_size: rows per batch.
        shuffle: draw a new permutation every epoch.
        seed: seed of the per-epoch permutations.
        transform: optional function of the dict of numpy slices returning the dict of numpy arrays
            to batch (build windows / tokens lazily, per batch).
        drop_last: drop the final short batch.
    """

    def __init__(
        self,
        arrays: dict[str, np.ndarray],
        batch_size: int,
        *,
        shuffle: bool,
        seed: int,
        transform: Transform | None = None,
        drop_last: bool = False,
    ) -> None:
        if not arrays:
            raise ValueError("ArrayBatches needs at least one array")
        sizes = {k: len(v) for k, v in arrays.items()}
        if len(set(sizes.values())) != 1:
            raise ValueError(f"arrays must share their first dimension, got {sizes}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.arrays, self.batch_size = arrays, int(batch_size)
        self.shuffle, self.seed, self.transform, self.drop_last = shuffle, int(seed), transform, drop_last
        self.n = next(iter(sizes.values()))
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Fix the epoch whose permutation the next iteration uses."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.n // self.batch_size if self.drop_last else -(-self.n // self.batch_size)

    def _order(self, epoch: int) -> np.ndarray | None:
        if not self.shuffle:
            return None
        return np.random.default_rng([self.seed, epoch]).permutation(self.n)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        order = self._order(self.epoch)
        self.epoch += 1  # without set_epoch, successive iterations still get new permutations
        for b in range(len(self)):
            start, stop = b * self.batch_size, min((b + 1) * self.batch_size, self.n)
            if order is None:
                part = {k: v[start:stop] for k, v in self.arrays.items()}
            else:
                idx = np.sort(order[start:stop])
                part = {k: v[idx] for k, v in self.arrays.items()}
            if self.transform is not None:
                part = self.transform(part)
            yield {k: _to_tensor(np.asarray(v)) for k, v in part.items()}
