"""Atomic, validated training checkpoints.

A checkpoint is written to a temporary file in the target folder and renamed over the old one
(``os.replace`` is atomic on POSIX and Windows), so a crash mid-write leaves the previous
checkpoint intact. Loading uses ``weights_only=True`` and validates the structure; anything
unreadable or incomplete is ignored with a warning, never half-applied.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

logger = logging.getLogger(__name__)

CHECKPOINT_NAME = "checkpoint.pt"
FORMAT = 1
_KEYS = {
    "format",
    "epoch",
    "model",
    "optimizer",
    "best_state",
    "best_epoch",
    "best_score",
    "history",
    "stopped",
    "fingerprint",
}


def save_checkpoint(directory: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` to ``directory/checkpoint.pt`` atomically.

    Args:
        directory: checkpoint folder (created when missing).
        payload: a dict of tensors, numbers, strings, lists and dicts.

    Returns:
        The checkpoint path.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / CHECKPOINT_NAME
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".checkpoint-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def load_checkpoint(directory: str | Path) -> dict[str, Any] | None:
    """Read ``directory/checkpoint.pt`` if present and valid.

    Args:
        directory: checkpoint folder.

    Returns:
        The payload, or None when there is no checkpoint or it is corrupt or incomplete (warned).
    """
    path = Path(directory) / CHECKPOINT_NAME
    if not path.exists():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, pickle error, disallowed type...: all mean "unusable"
        logger.warning("ignoring unreadable checkpoint %s (%s: %s)", path, type(e).__name__, e)
        return None
    if not isinstance(payload, dict) or not _KEYS <= set(payload) or payload["format"] != FORMAT:
        logger.warning("ignoring checkpoint %s: not a liftrec training checkpoint (format %s)", path, FORMAT)
        return None
    return payload


def matches_model(state: dict[str, Any], model: torch.nn.Module) -> bool:
    """True when ``state`` has exactly the keys and tensor shapes of ``model.state_dict()``."""
    own = model.state_dict()
    if not isinstance(state, dict) or set(state) != set(own):
        return False
    return all(
        not isinstance(v, torch.Tensor) or (isinstance(state[k], torch.Tensor) and state[k].shape == v.shape)
        for k, v in own.items()
    )
