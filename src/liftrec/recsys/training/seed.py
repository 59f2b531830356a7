"""Scoped seeding: deterministic torch randomness without touching the caller's global RNG state."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch


def derive_seed(seed: int, *keys: int) -> int:
    """A well-mixed 63-bit seed from a base seed and integer keys (e.g. the epoch)."""
    return int(np.random.SeedSequence([int(seed), *map(int, keys)]).generate_state(1, np.uint64)[0] >> 1)


@contextlib.contextmanager
def torch_seed(seed: int) -> Iterator[None]:
    """Run a block with torch's global RNGs (CPU and CUDA) seeded, restoring them afterwards.

    Use it to build models reproducibly: ``with torch_seed(seed): model = Model(cfg)``.
    """
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield
