"""One generic training loop for every model, with batching, device and seeding utilities."""

from liftrec.recsys.training.batching import ArrayBatches, window_tokens
from liftrec.recsys.training.callbacks import Callback, EarlyStopping, ProgressCallback
from liftrec.recsys.training.device import move_batch, resolve_device
from liftrec.recsys.training.loop import FitResult, TrainConfig, fit
from liftrec.recsys.training.seed import derive_seed, torch_seed

__all__ = [
    "ArrayBatches",
    "Callback",
    "EarlyStopping",
    "FitResult",
    "ProgressCallback",
    "TrainConfig",
    "derive_seed",
    "fit",
    "move_batch",
    "resolve_device",
    "torch_seed",
    "window_tokens",
]
