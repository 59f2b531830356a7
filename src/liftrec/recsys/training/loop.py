"""The one training loop for every model (pretraining and predictors), after minGPT's ``Trainer``.

Contract: ``model.loss(batch) -> 0-d tensor``; ``train`` is a re-iterable of CPU batches
(``dict[str, Tensor]``), moved to the device here, never inside ``forward``. Each epoch:
Adam steps with optional gradient clipping, then ``evaluate(model)`` (higher is better) under
``model.eval()`` and ``torch.no_grad()``; the best state (by that score, or by the lowest training
loss without ``evaluate``) is kept and loaded into the model at the end. Early stopping, progress
and any other behaviour are callbacks.

Reproducibility: torch's global RNG is forked for the duration of ``fit`` and reseeded at the
start of every epoch from (seed, epoch), and ``train.set_epoch(epoch)`` is called when available,
so epoch e depends only on the state after epoch e - 1. With ``checkpoint_dir``, that state
(model, optimiser, best state, history) is saved atomically after every epoch and a rerun resumes
from it, reproducing an uninterrupted run exactly (on the CPU; on a GPU up to non-deterministic kernels).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from liftrec.recsys.config import check
from liftrec.recsys.training.callbacks import Callback, EarlyStopping, ProgressCallback
from liftrec.recsys.training.checkpoint import FORMAT, load_checkpoint, matches_model, save_checkpoint
from liftrec.recsys.training.device import move_batch, resolve_device
from liftrec.recsys.training.seed import derive_seed

logger = logging.getLogger(__name__)

# Settings that may change between an interrupted run and its resumption.
_RESUMABLE_CHANGES = {"epochs", "patience", "device"}


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings of one stage (``<stage>.training``).

    Attributes:
        epochs: maximum passes over the training data.
        batch_size: rows per batch (used by the caller to build the batches).
        lr: Adam learning rate.
        weight_decay: Adam's L2 penalty.
        patience: stop after this many epochs without a better score (>= 1).
        device: "auto", "cpu", "cuda", "cuda:N" or "mps".
        max_batches_per_epoch: cap on steps per epoch (None: a full pass).
        grad_clip: max global gradient norm (None: no clipping).
    """

    epochs: int = 5
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.0
    patience: int = 2
    device: str = "auto"
    max_batches_per_epoch: int | None = None
    grad_clip: float | None = 1.0

    def __post_init__(self) -> None:
        check(self.epochs >= 1, "epochs", f"must be >= 1, got {self.epochs}")
        check(self.batch_size >= 1, "batch_size", f"must be >= 1, got {self.batch_size}")
        check(self.lr > 0, "lr", f"must be > 0, got {self.lr}")
        check(self.weight_decay >= 0, "weight_decay", f"must be >= 0, got {self.weight_decay}")
        check(self.patience >= 1, "patience", f"must be >= 1, got {self.patience}")
        m = self.max_batches_per_epoch
        check(m is None or m >= 1, "max_batches_per_epoch", f"must be >= 1 or null, got {m}")
        g = self.grad_clip
        check(g is None or g > 0, "grad_clip", f"must be > 0 or null, got {g}")


@dataclass
class FitResult:
    """What ``fit`` returns.

    Attributes:
        state_dict: the best model state (CPU tensors); also loaded into the model.
        history: one dict per epoch: epoch, train_loss, valid_score (None without evaluate),
            seconds (training), eval_seconds, samples, samples_per_s, batches.
        best_epoch: the 1-based epoch of ``state_dict``.
        best_score: its score (minus the training loss without evaluate).
        resumed: whether training started from a checkpoint.
    """

    state_dict: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = 0
    best_score: float = -math.inf
    resumed: bool = False


def _cpu_state(model: nn.Module) -> dict[str, Any]:
    state = model.state_dict()
    return {k: v.detach().to("cpu", copy=True) if isinstance(v, Tensor) else v for k, v in state.items()}


def _batch_len(batch: dict[str, Tensor]) -> int:
    return int(next(iter(batch.values())).shape[0])


def _fingerprint(cfg: TrainConfig, seed: int) -> dict[str, Any]:
    d = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in _RESUMABLE_CHANGES}
    return {**d, "seed": int(seed)}


def _try_resume(
    checkpoint_dir: str | Path | None, model: nn.Module, fp: dict[str, Any]
) -> dict[str, Any] | None:
    if checkpoint_dir is None:
        return None
    ckpt = load_checkpoint(checkpoint_dir)
    if ckpt is None:
        return None
    if ckpt["fingerprint"] != fp:
        logger.warning(
            "ignoring checkpoint in %s: trained with other settings %s (now %s)",
            checkpoint_dir,
            ckpt["fingerprint"],
            fp,
        )
        return None
    best = ckpt["best_state"]
    if not matches_model(ckpt["model"], model) or (best is not None and not matches_model(best, model)):
        logger.warning("ignoring checkpoint in %s: its state does not match this model", checkpoint_dir)
        return None
    return ckpt


def _train_epoch(
    model: nn.Module,
    train: Iterable[dict[str, Tensor]],
    opt: torch.optim.Optimizer,
    params: list[Tensor],
    cfg: TrainConfig,
    device: torch.device,
    epoch: int,
    step: int,
    callbacks: Sequence[Callback],
) -> tuple[float, int, int, int]:
    """One pass; returns (mean train loss per sample, samples, batches, global step)."""
    model.train()
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)  # summed on device: no sync per step
    samples = batches = 0
    for i, batch in enumerate(train):
        if cfg.max_batches_per_epoch is not None and i >= cfg.max_batches_per_epoch:
            break
        batch = move_batch(batch, device)
        loss = model.loss(batch)
        if loss.dim() != 0:
            raise ValueError(f"{type(model).__name__}.loss must return a scalar, got {tuple(loss.shape)}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip is not None:
            nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        opt.step()
        n = _batch_len(batch)
        loss_sum += loss.detach().to(torch.float64) * n
        samples, batches, step = samples + n, batches + 1, step + 1
        for cb in callbacks:
            cb.on_batch_end(step, {"epoch": epoch, "batch": i, "loss": loss.detach(), "batch_size": n})
    if batches == 0:
        raise ValueError(
            f"the training data yielded no batch in epoch {epoch} "
            "(pass a re-iterable such as ArrayBatches, not a one-shot generator)"
        )
    train_loss = loss_sum.item() / samples
    if not math.isfinite(train_loss):
        raise FloatingPointError(f"training loss is {train_loss} in epoch {epoch}")
    return train_loss, samples, batches, step


def fit(
    model: nn.Module,
    train: Iterable[dict[str, Tensor]],
    cfg: TrainConfig,
    *,
    seed: int,
    evaluate: Callable[[nn.Module], float] | None = None,
    callbacks: Sequence[Callback] = (),
    checkpoint_dir: str | Path | None = None,
) -> FitResult:
    """Train ``model`` by minimising ``model.loss(batch)`` with Adam.

    Args:
        model: a module with ``loss(batch) -> scalar tensor``.
        train: re-iterable of CPU batches (``set_epoch(e)`` is called when it has one).
        cfg: optimisation settings.
        seed: seeds dropout and any other torch randomness, per epoch.
        evaluate: validation score of the model, higher is better; None selects by training loss.
        callbacks: extra callbacks (early stopping from ``cfg.patience`` and a progress bar are added).
        checkpoint_dir: folder for an atomic per-epoch checkpoint; an existing valid one is resumed.

    Returns:
        The best state, per-epoch history, best epoch and score; the model holds the best state and is
        left in eval mode.

    Raises:
        ConfigError: for an unusable device.
        ValueError: when the model has no trainable parameter or the data yields no batch.
        FloatingPointError: when the training loss becomes non-finite.
    """
    device = resolve_device(cfg.device)
    model.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError(f"{type(model).__name__} has no trainable parameters")
    opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    cbs: list[Callback] = [EarlyStopping(cfg.patience), ProgressCallback(), *callbacks]
    fp = _fingerprint(cfg, seed)

    history: list[dict[str, Any]] = []
    best_state: dict[str, Any] | None = None
    best_epoch, best_score, start, stopped = 0, -math.inf, 0, False
    ckpt = _try_resume(checkpoint_dir, model, fp)
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        history, best_state = list(ckpt["history"]), ckpt["best_state"]
        best_epoch, best_score = ckpt["best_epoch"], ckpt["best_score"]
        start, stopped = ckpt["epoch"], ckpt["stopped"]
        logger.info("resuming from %s after epoch %d", checkpoint_dir, start)

    for cb in cbs:
        cb.on_train_begin({"start_epoch": start + 1, "epochs": cfg.epochs, "device": str(device)})
    cuda = []  # the CUDA device whose RNG is forked along with the CPU's
    if device.type == "cuda":
        cuda = [device.index if device.index is not None else torch.cuda.current_device()]
    step = sum(h["batches"] for h in history)
    with torch.random.fork_rng(devices=cuda):
        for epoch in range(start + 1, cfg.epochs + 1):
            if stopped:
                break
            torch.manual_seed(derive_seed(seed, epoch))
            if hasattr(train, "set_epoch"):
                train.set_epoch(epoch - 1)
            n_expected = len(train) if hasattr(train, "__len__") else None  # type: ignore[arg-type]
            if n_expected is not None and cfg.max_batches_per_epoch is not None:
                n_expected = min(n_expected, cfg.max_batches_per_epoch)
            for cb in cbs:
                cb.on_epoch_begin(epoch, {"batches": n_expected})

            t0 = time.perf_counter()
            train_loss, samples, batches, step = _train_epoch(
                model, train, opt, params, cfg, device, epoch, step, cbs
            )
            seconds = time.perf_counter() - t0

            t1 = time.perf_counter()
            valid_score = None
            if evaluate is not None:
                model.eval()
                with torch.no_grad():
                    valid_score = float(evaluate(model))
                if not math.isfinite(valid_score):
                    logger.warning("validation score %s after epoch %d: not a gain", valid_score, epoch)
            score = -train_loss if valid_score is None else valid_score
            if score > best_score:  # NaN never counts as a gain
                best_state, best_epoch, best_score = _cpu_state(model), epoch, score
            entry = {
                "epoch": epoch,
                "train_loss": train_loss,
                "valid_score": valid_score,
                "seconds": seconds,
                "eval_seconds": time.perf_counter() - t1,
                "samples": samples,
                "samples_per_s": samples / max(seconds, 1e-9),
                "batches": batches,
            }
            history.append(entry)
            logger.info(
                "epoch %d/%d train_loss=%.5f valid=%s best=%.5f@%d %.1fs %.0f samples/s",
                epoch,
                cfg.epochs,
                train_loss,
                "-" if valid_score is None else f"{valid_score:.5f}",
                best_score,
                best_epoch,
                seconds,
                entry["samples_per_s"],
            )
            logs = {**entry, "best_epoch": best_epoch, "best_score": best_score}
            stopped = any([bool(cb.on_epoch_end(epoch, logs)) for cb in cbs])  # every callback sees the epoch
            if checkpoint_dir is not None:
                save_checkpoint(
                    checkpoint_dir,
                    {
                        "format": FORMAT,
                        "epoch": epoch,
                        "model": model.state_dict(),
                        "optimizer": opt.state_dict(),
                        "best_state": best_state,
                        "best_epoch": best_epoch,
                        "best_score": best_score,
                        "history": history,
                        "stopped": stopped,
                        "fingerprint": fp,
                    },
                )

    if best_state is None:  # no finite score at all (or nothing left to train): keep the current state
        best_state = _cpu_state(model)
    model.load_state_dict(best_state)
    model.eval()
    for cb in cbs:
        cb.on_train_end({"best_epoch": best_epoch, "best_score": best_score, "stopped": stopped})
    return FitResult(
        state_dict=best_state,
        history=history,
        best_epoch=best_epoch,
        best_score=best_score,
        resumed=ckpt is not None,
    )
