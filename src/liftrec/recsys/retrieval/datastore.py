"""LIFT's datastore (DESIGN.md §5): frozen-encoder vectors of every retrieval-period row's context.

For every retrieval-period row z the datastore holds ``hist[z] = E(h_z)`` and ``fut[z] = E(f_z)``
(the encoder E applied to the windows of the last / next L interactions), keyed by ``row_ids``
(ascending). The raw keys x_z, labels, users and timestamps stay in the ``rows`` table and are
joined through ``row_id``. The targets' own histories h_t are encoded by the same function,
:func:`encode_rows`, so there is one batching loop (:func:`encode_windows`).

Choices:

* Values are stored as float16 by default (``DatastoreConfig.dtype``): half the memory and disk of
  float32 at 100 M rows; the encoder itself always runs in float32, and a value that overflows
  float16 raises instead of being stored as inf.
* An empty window (no interaction before / after) is stored as the zero vector without running
  the encoder, which is exactly what :class:`SequenceEncoder.encode` returns for it.
* ``out=`` / ``out_dir=`` write into ``.npy`` memory maps, so a datastore larger than memory is
  built in one pass and reopened with :meth:`Datastore.load` (mmap) without copying.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import torch
from torch import nn

from liftrec.recsys.config import check
from liftrec.recsys.data.sequences import gather_windows
from liftrec.recsys.errors import DataError
from liftrec.recsys.schema import LABEL, PERIOD, RETRIEVAL, ROW_ID, Schema
from liftrec.recsys.training.batching import window_tokens
from liftrec.recsys.training.device import resolve_device

logger = logging.getLogger(__name__)

_FILES = ("row_ids", "hist", "fut")


@dataclass(frozen=True)
class DatastoreConfig:
    """How the datastore is encoded (``datastore``).

    Attributes:
        batch_size: windows encoded per forward pass.
        dtype: storage type of the vectors.
        device: "auto", "cpu", "cuda", "cuda:N" or "mps".
    """

    batch_size: int = 2048
    dtype: Literal["float16", "float32"] = "float16"
    device: str = "auto"

    def __post_init__(self) -> None:
        check(self.batch_size >= 1, "batch_size", f"must be >= 1, got {self.batch_size}")


@dataclass
class Datastore:
    """Encoded contexts of the retrieval-period rows.

    Attributes:
        row_ids: (N_ret,) int64 row ids, strictly ascending.
        hist: (N_ret, v) E(history) of each row.
        fut: (N_ret, v) E(future) of each row.
    """

    row_ids: np.ndarray
    hist: np.ndarray
    fut: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.row_ids)
        if self.hist.ndim != 2 or self.hist.shape != self.fut.shape or len(self.hist) != n:
            raise DataError(
                f"datastore: row_ids {self.row_ids.shape}, hist {self.hist.shape}, "
                f"fut {self.fut.shape} disagree"
            )

    def __len__(self) -> int:
        return len(self.row_ids)

    @property
    def dim(self) -> int:
        """v, the size of the stored vectors."""
        return int(self.hist.shape[1])

    def positions(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Map row ids to datastore positions.

        Args:
            ids: int row ids of any shape, -1 for "no row".

        Returns:
            (pos, valid): positions (0 where invalid) and a bool mask of ids >= 0.

        Raises:
            DataError: when a non-negative id is not a datastore row.
        """
        ids = np.asarray(ids, dtype=np.int64)
        valid = ids >= 0
        pos = np.searchsorted(self.row_ids, ids)  # binary search: no N-sized lookup array
        pos = np.where(valid, np.minimum(pos, max(len(self) - 1, 0)), 0)
        found = len(self) > 0 and np.asarray(self.row_ids[pos] == ids)
        missing = valid & ~found
        if missing.any():
            raise DataError(f"datastore: row id {int(ids[missing][0])} is not a retrieval-period row")
        return pos, valid

    def save(self, path: str | Path) -> None:
        """Write ``row_ids.npy``, ``hist.npy`` and ``fut.npy`` under ``path`` (memory-mappable)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        for name in _FILES:
            arr, target = getattr(self, name), path / f"{name}.npy"
            if isinstance(arr, np.memmap) and Path(arr.filename).resolve() == target.resolve():
                arr.flush()  # already backed by that file; rewriting it while mapped would corrupt it
            else:
                np.save(target, np.asarray(arr))

    @classmethod
    def load(cls, path: str | Path, mmap: bool = True) -> Datastore:
        """Read a saved datastore; with ``mmap`` the arrays are read-only memory maps."""
        path = Path(path)
        arrays = {n: np.load(path / f"{n}.npy", mmap_mode="r" if mmap else None) for n in _FILES}
        return cls(**arrays)


def encode_windows(
    encoder: nn.Module,
    X: np.ndarray,
    y: np.ndarray,
    pool_index: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    length: int,
    cfg: DatastoreConfig,
    *,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Encode the windows ``pool_index[lo:hi]`` (last ``length`` of each) with ``encoder.encode``.

    Args:
        encoder: a module with ``out_dim`` and ``encode(fields (B,L,M), labels (B,L)) -> (B, v)``.
        X: (N, M) field codes of the rows table (memmap allowed).
        y: (N,) labels of the rows table.
        pool_index: row ids in sequence order; windows are slices of it.
        lo: (n,) window starts into ``pool_index``.
        hi: (n,) window ends (exclusive); ``hi <= lo`` is an empty window.
        length: L, the window length.
        cfg: batch size, storage dtype and device.
        out: optional preallocated (n, v) array (e.g. ``np.lib.format.open_memmap``) to write into.

    Returns:
        (n, v) vectors in ``cfg.dtype`` (``out`` when given); empty windows are zero vectors.
    """
    lo, hi = np.asarray(lo, dtype=np.int64), np.asarray(hi, dtype=np.int64)
    n, v = len(lo), int(encoder.out_dim)
    if out is None:
        out = np.zeros((n, v), dtype=cfg.dtype)
    elif out.shape != (n, v):
        raise DataError(f"encode_windows: out has shape {out.shape}, expected {(n, v)}")
    todo = np.flatnonzero(hi > lo)  # sorted, so memmap writes go front to back
    empty = np.flatnonzero(hi <= lo)
    if empty.size:
        out[empty] = 0
    device = resolve_device(cfg.device)
    first = next(encoder.parameters(), None)
    home = first.device if first is not None else torch.device("cpu")
    was_training = encoder.training
    encoder.to(device).eval()
    try:
        with torch.inference_mode():
            for b, start in enumerate(range(0, todo.size, cfg.batch_size)):
                idx = todo[start : start + cfg.batch_size]  # (b,)
                rows = gather_windows(pool_index, lo[idx], hi[idx], length)  # (b, L)
                fields, labels = window_tokens(rows, X, y)  # (b, L, M), (b, L)
                enc = encoder.encode(torch.from_numpy(fields).to(device), torch.from_numpy(labels).to(device))
                vec = enc.float().cpu().numpy().astype(out.dtype)  # (b, v)
                if not np.isfinite(vec).all():
                    raise DataError(
                        f"encode_windows: non-finite vectors (overflow in {out.dtype}?); try dtype float32"
                    )
                out[idx] = vec
                if b % 100 == 0:
                    logger.info("encoded %d / %d windows", min(start + cfg.batch_size, todo.size), todo.size)
    finally:
        encoder.train(was_training).to(home)
    return out


def window_bounds(
    rows: pd.DataFrame, windows: dict[str, np.ndarray], target_ids: np.ndarray, which: Literal["hist", "fut"]
) -> tuple[np.ndarray, np.ndarray]:
    """The ``(lo, hi)`` window bounds of given rows.

    Args:
        rows: the canonical rows table (``row_id`` == position).
        windows: the dict of ``build_windows``; ``{which}_lo``/``{which}_hi`` hold one entry per row
            of ``rows``, or (futures) one per retrieval-period row.
        target_ids: (n,) row ids.
        which: "hist" or "fut".

    Returns:
        (lo, hi), each (n,) int64, aligned with ``target_ids``.
    """
    target_ids = np.asarray(target_ids, dtype=np.int64)
    lo, hi = windows[f"{which}_lo"], windows[f"{which}_hi"]
    if len(lo) == len(rows):
        at = target_ids
    else:  # per retrieval-period row only: map row ids to their rank among retrieval rows
        ret_ids = np.flatnonzero(rows[PERIOD].to_numpy() == RETRIEVAL)
        if len(lo) != len(ret_ids):
            raise DataError(
                f"windows['{which}_lo'] has {len(lo)} entries: neither all rows nor retrieval rows"
            )
        at = np.searchsorted(ret_ids, target_ids)
        if target_ids.size and not np.array_equal(ret_ids[np.minimum(at, len(ret_ids) - 1)], target_ids):
            raise DataError(f"window_bounds: '{which}' windows exist only for retrieval-period rows")
    return np.asarray(lo[at], dtype=np.int64), np.asarray(hi[at], dtype=np.int64)


def _features(rows: pd.DataFrame, schema: Schema) -> tuple[np.ndarray, np.ndarray]:
    row_id = rows[ROW_ID].to_numpy()
    if not np.array_equal(row_id, np.arange(len(rows))):
        raise DataError("rows must be ordered with row_id == position", column=ROW_ID)
    return rows[list(schema.fields)].to_numpy(dtype=np.int64), rows[LABEL].to_numpy()


def encode_rows(
    encoder: nn.Module,
    rows: pd.DataFrame,
    windows: dict[str, np.ndarray],
    schema: Schema,
    target_ids: np.ndarray,
    length: int,
    cfg: DatastoreConfig,
    *,
    which: Literal["hist", "fut"] = "hist",
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Encode the history (or future) window of given rows, e.g. each target's own history h_t.

    Args:
        encoder: the frozen encoder (see :func:`encode_windows`).
        rows: the canonical rows table (``row_id`` == position).
        windows: the dict of ``build_windows``.
        schema: names the field columns.
        target_ids: (n,) row ids to encode.
        length: L.
        cfg: encoding settings.
        which: "hist" for E(h_z), "fut" for E(f_z) (retrieval-period rows only).
        out: optional preallocated (n, v) array.

    Returns:
        (n, v) vectors aligned with ``target_ids``.
    """
    X, y = _features(rows, schema)
    lo, hi = window_bounds(rows, windows, target_ids, which)
    return encode_windows(encoder, X, y, windows["pool_index"], lo, hi, length, cfg, out=out)


def build_datastore(
    encoder: nn.Module,
    rows: pd.DataFrame,
    windows: dict[str, np.ndarray],
    schema: Schema,
    length: int,
    cfg: DatastoreConfig,
    *,
    out_dir: str | Path | None = None,
) -> Datastore:
    """Encode E(history) and E(future) of every retrieval-period row.

    Args:
        encoder: the pretrained, frozen encoder.
        rows: the canonical rows table.
        windows: the dict of ``build_windows``.
        schema: names the field columns.
        length: L.
        cfg: encoding settings.
        out_dir: when given, the arrays are written as ``.npy`` memory maps there (see ``load``).

    Returns:
        The :class:`Datastore` (memory-mapped when ``out_dir`` is given).
    """
    X, y = _features(rows, schema)
    ret = np.flatnonzero(rows[PERIOD].to_numpy() == RETRIEVAL).astype(np.int64)  # (N_ret,) ascending
    shape = (len(ret), int(encoder.out_dim))
    outs: dict[str, np.ndarray | None] = {"hist": None, "fut": None}
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        np.save(Path(out_dir) / "row_ids.npy", ret)
        for name in outs:
            outs[name] = np.lib.format.open_memmap(Path(out_dir) / f"{name}.npy", "w+", cfg.dtype, shape)
    logger.info(
        "datastore: encoding %d retrieval rows (L=%d, v=%d, %s)", len(ret), length, shape[1], cfg.dtype
    )
    for name in outs:
        lo, hi = window_bounds(rows, windows, ret, name)
        outs[name] = encode_windows(encoder, X, y, windows["pool_index"], lo, hi, length, cfg, out=outs[name])
    if out_dir is not None:
        for arr in outs.values():
            arr.flush()
        return Datastore.load(out_dir)
    return Datastore(ret, outs["hist"], outs["fut"])
