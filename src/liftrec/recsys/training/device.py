"""Device selection and the one place where batches move to the device (the training loop calls it)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any, TypeVar

import torch
from torch import Tensor

from liftrec.recsys.errors import ConfigError

_NAME = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
F = TypeVar("F", bound=Callable[..., Any])


def keep_torch_threads(func: F) -> F:
    """Decorator: restore torch's intra-op thread count after ``func``.

    PyTorch's CPU build, numba's OpenMP threading layer and LightGBM share one libgomp, whose thread
    count is process-wide: the BM25 engine's parallel search or a LightGBM fit raise it, and every later
    torch op then runs with the extra threads. On a machine whose cores are already busy (e.g.
    ``OMP_NUM_THREADS=1`` per job) the spinning threads made predictor training 3-25x slower
    (measured: LIFT at 3,600 samples/s right after a BM25 search instead of 11,700).
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        n = torch.get_num_threads()
        try:
            return func(*args, **kwargs)
        finally:
            if torch.get_num_threads() != n:
                torch.set_num_threads(n)

    return wrapper  # type: ignore[return-value]


def resolve_device(name: str = "auto") -> torch.device:
    """Turn a device parameter into a ``torch.device``.

    Args:
        name: "auto" (CUDA when available, else CPU), "cpu", "cuda", "cuda:N" or "mps".

    Returns:
        The device.

    Raises:
        ConfigError: for an unknown name, or an accelerator that is not available here.
    """
    if not isinstance(name, str) or not _NAME.match(name.strip().lower()):
        raise ConfigError(f"parameter 'device': expected auto, cpu, cuda, cuda:N or mps, got {name!r}")
    name = name.strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"parameter 'device': {name!r} requested but CUDA is not available")
        dev = torch.device(name)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(f"parameter 'device': {name!r} but only {torch.cuda.device_count()} GPU(s)")
        return dev
    if name == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise ConfigError("parameter 'device': 'mps' requested but not available")
    return torch.device(name)


def move_batch(batch: dict[str, Tensor], device: torch.device | str) -> dict[str, Tensor]:
    """Copy every tensor of ``batch`` to ``device`` (non-tensors pass through unchanged).

    Args:
        batch: name -> tensor.
        device: target device.

    Returns:
        A new dict with the tensors on ``device``.
    """
    return {k: v.to(device, non_blocking=True) if isinstance(v, Tensor) else v for k, v in batch.items()}
