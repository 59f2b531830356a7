"""Callbacks of the training loop: progress bar, early stopping, and the base class.

Every hook receives plain ``logs`` dicts. ``on_epoch_end`` may return True to stop training.
Epochs are numbered from 1 (epoch e = the e-th completed pass over the training data).
"""

from __future__ import annotations

import logging
from typing import Any

from liftrec.recsys.progress import Progress, interactive, progress

logger = logging.getLogger(__name__)


class Callback:
    """Base class: override the hooks you need; all default to doing nothing."""

    def on_train_begin(self, logs: dict[str, Any]) -> None:
        """Called once before the first epoch (``logs``: start_epoch, epochs, device)."""

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any]) -> None:
        """Called before each epoch (``logs``: batches, the expected count or None)."""

    def on_batch_end(self, step: int, logs: dict[str, Any]) -> None:
        """Called after each optimiser step; ``step`` counts steps across epochs (``logs``: epoch,
        batch, loss as a 0-d tensor still on the device, batch_size)."""

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> bool | None:
        """Called after each epoch's evaluation with that epoch's history entry plus best_epoch and
        best_score. Return True to stop training."""
        return None

    def on_train_end(self, logs: dict[str, Any]) -> None:
        """Called once after the last epoch (``logs``: best_epoch, best_score, stopped)."""


class EarlyStopping(Callback):
    """Stop when the score has not improved for ``patience`` epochs.

    Stateless (it reads ``best_epoch`` from the logs), so it behaves the same after a resume.

    Args:
        patience: epochs without improvement tolerated, >= 1.
    """

    def __init__(self, patience: int) -> None:
        if patience < 1:
            raise ValueError(f"patience must be >= 1, got {patience}")
        self.patience = patience

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> bool | None:
        if epoch - int(logs["best_epoch"]) >= self.patience:
            logger.info("early stop after epoch %d: no gain since epoch %d", epoch, logs["best_epoch"])
            return True
        return None


class ProgressCallback(Callback):
    """A tqdm progress bar per epoch, with the running loss.

    Quiet when the environment has CI=true (or 1), stderr is not a terminal, or tqdm is missing
    (:func:`liftrec.recsys.progress.interactive`); the fit loop logs each epoch's summary itself.
    The loss is read back from the device only every ``refresh_every`` steps, to avoid a
    synchronisation per batch.

    Args:
        refresh_every: steps between loss read-backs.
        enabled: force on or off; None decides from the environment.
    """

    def __init__(self, refresh_every: int = 20, enabled: bool | None = None) -> None:
        self.refresh_every = max(1, int(refresh_every))
        self.enabled = interactive() if enabled is None else enabled
        self._bar: Progress | None = None

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any]) -> None:
        if not self.enabled:
            return
        self._bar = progress(logs.get("batches"), f"epoch {epoch}", "batch", enabled=True)
        if not self._bar.enabled:  # tqdm missing
            self.enabled, self._bar = False, None

    def on_batch_end(self, step: int, logs: dict[str, Any]) -> None:
        if self._bar is None:
            return
        self._bar.update(1)
        if step % self.refresh_every == 0:
            self._bar.set_postfix(loss=f"{float(logs['loss']):.4f}")

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> bool | None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        return None
