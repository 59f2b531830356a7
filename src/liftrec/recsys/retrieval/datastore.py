"""LIFT's datastore (DESIGN.md §5): frozen-encoder vectors of every retrieval-period row's context.

For every retrieval-period row z the datastore holds ``hist[z] = E(h_z)`` and ``fut[z] = E(f_z)``
(the encoder E applied to the windows of the last / next L interactions), keyed by ``row_ids``
(ascending). The raw keys x_z, labels, users and timestamps stay in the ``rows`` table and are
joined through ``row_id``. The targets' own histories h_t are encoded by the same function,
:func:`encode_rows`, so there is one batching loop (:func:`encode_windows`).

Choices:

* ``DatastoreConfig.include_self`` (off by default) puts the row itself into its own windows: E sees
  the last L - 1 interactions before the row and then the row with the [MSK] label token, i.e.
  exactly a masked position of mask-behaviour pretraining, so o_T is the encoder's state for "would
  this user take this interaction here" (target-aware); futures then start with the row. Without it
  (the paper's h_z / f_z), o_T is the state at the last context interaction. A target's own label is
  never visible: its token is always [MSK]; retrieval rows get [MSK] too by default (``self_label``).
  Off by default because it did not help on the synthetic data (docs/results.md: test AUC 0.633
  with it vs 0.639 without on the first synthetic defaults, 0.66 vs 0.70 on the current ones).
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
from liftrec.recsys.models.encoder import LABEL_MASK
from liftrec.recsys.progress import progress
from liftrec.recsys.schema import LABEL, PAD, PERIOD, RETRIEVAL, ROW_ID, Schema
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
        include_self: windows include the row itself: a history window is the last L - 1
            interactions before the row followed by the row, a future window is the row followed by
            the next L - 1 (see the module docstring). False: the plain last / next L interactions.
        self_label: the label token of a retrieval row inside its own windows, "mask" ([MSK], as
            for targets) or "label" (its 0/1 label). Targets (train / valid / test rows) always get
            [MSK]: their own label is never visible.
    """

    batch_size: int = 2048
    dtype: Literal["float16", "float32"] = "float16"
    device: str = "auto"
    include_self: bool = False
    self_label: Literal["mask", "label"] = "mask"

    def __post_init__(self) -> None:
        check(self.batch_size >= 1, "batch_size", f"must be >= 1, got {self.batch_size}")
        label = self.self_label
        check(label in ("mask", "label"), "self_label", f"must be mask or label, got {label!r}")


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


def anchored_windows(
    pool_index: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    length: int,
    anchor_ids: np.ndarray,
    at: Literal["end", "start"],
) -> tuple[np.ndarray, np.ndarray]:
    """Windows that include the row itself (the "anchor"), as a left-padded (n, length) matrix.

    ``at="end"`` (histories): the last ``length - 1`` entries of ``pool_index[lo:hi]`` followed by
    the anchor, so the window ends with the row. ``at="start"`` (futures): the anchor followed by the
    FIRST ``length - 1`` entries of the slice, so the window starts with the row. Either way the
    result is chronological and padded on the left only, like :func:`gather_windows`. Vectorised.

    Args:
        pool_index: row ids of the pool (from ``build_windows``).
        lo: (n,) slice starts.
        hi: (n,) slice ends (exclusive).
        length: width of the output, anchor included (>= 1).
        anchor_ids: (n,) the row id of each window's own row.
        at: where the anchor goes.

    Returns:
        ``(ids, col)``: (n, length) int64 row ids (PAD = -1), and (n,) the column of each anchor.
    """
    lo = np.asarray(lo, dtype=np.int64)
    hi = np.asarray(hi, dtype=np.int64)
    anchor_ids = np.asarray(anchor_ids, dtype=np.int64)
    n = len(lo)
    if at == "end":
        ctx = gather_windows(pool_index, lo, hi, length - 1)  # (n, length - 1) the last entries
        return np.concatenate([ctx, anchor_ids[:, None]], axis=1), np.full(n, length - 1, dtype=np.int64)
    if at != "start":
        raise ValueError(f"anchored_windows: at must be 'end' or 'start', got {at!r}")
    hi_first = np.minimum(hi, lo + length - 1)  # keep the FIRST length - 1 entries
    out = np.full((n, length), PAD, dtype=np.int64)
    out[:, 1:] = gather_windows(pool_index, lo, hi_first, length - 1)  # (n, length - 1) left-padded
    col = length - 1 - np.maximum(hi_first - lo, 0)  # just before the first future entry
    out[np.arange(n), col] = anchor_ids
    return out, col


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
    anchor_ids: np.ndarray | None = None,
    anchor_at: Literal["end", "start"] = "end",
    mask_anchor: bool = True,
    desc: str = "encode windows",
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
        anchor_ids: (n,) row ids to include in their own windows (see
            :func:`~liftrec.recsys.data.sequences.anchored_windows`); None: plain windows.
        anchor_at: "end" (histories) or "start" (futures).
        mask_anchor: give the anchor the [MSK] label token instead of its label.
        desc: label of the progress bar (windows/s, ETA; when interactive) and the summary line.

    Returns:
        (n, v) vectors in ``cfg.dtype`` (``out`` when given); empty windows are zero vectors (an
        anchored window is never empty).
    """
    lo, hi = np.asarray(lo, dtype=np.int64), np.asarray(hi, dtype=np.int64)
    n, v = len(lo), int(encoder.out_dim)
    if out is None:
        out = np.zeros((n, v), dtype=cfg.dtype)
    elif out.shape != (n, v):
        raise DataError(f"encode_windows: out has shape {out.shape}, expected {(n, v)}")
    if anchor_ids is not None:
        anchor_ids = np.asarray(anchor_ids, dtype=np.int64)
        if anchor_ids.shape != lo.shape:
            raise DataError(f"encode_windows: anchor_ids {anchor_ids.shape}, expected {lo.shape}")
    nonempty = hi > lo if anchor_ids is None else np.ones(n, dtype=bool)
    todo = np.flatnonzero(nonempty)  # sorted, so memmap writes go front to back
    empty = np.flatnonzero(~nonempty)
    if empty.size:
        out[empty] = 0
    device = resolve_device(cfg.device)
    first = next(encoder.parameters(), None)
    home = first.device if first is not None else torch.device("cpu")
    was_training = encoder.training
    encoder.to(device).eval()
    bar = progress(todo.size, desc, "window", log=logger)
    try:
        with torch.inference_mode():
            for b, start in enumerate(range(0, todo.size, cfg.batch_size)):
                idx = todo[start : start + cfg.batch_size]  # (b,)
                if anchor_ids is None:
                    rows = gather_windows(pool_index, lo[idx], hi[idx], length)  # (b, L)
                else:
                    rows, col = anchored_windows(
                        pool_index, lo[idx], hi[idx], length, anchor_ids[idx], anchor_at
                    )  # (b, L), (b,)
                fields, labels = window_tokens(rows, X, y)  # (b, L, M), (b, L)
                if anchor_ids is not None and mask_anchor:
                    labels[np.arange(len(idx)), col] = LABEL_MASK  # the row's own label is never shown
                enc = encoder.encode(torch.from_numpy(fields).to(device), torch.from_numpy(labels).to(device))
                vec = enc.float().cpu().numpy().astype(out.dtype)  # (b, v)
                if not np.isfinite(vec).all():
                    raise DataError(
                        f"encode_windows: non-finite vectors (overflow in {out.dtype}?); try dtype float32"
                    )
                out[idx] = vec
                bar.update(len(idx))
                if b % 100 == 99 and not bar.enabled:  # without a bar, a line now and then
                    logger.info("%s: %d / %d windows", desc, bar.n, todo.size)
    except BaseException:
        bar.close(failed=True)
        raise
    finally:
        encoder.train(was_training).to(home)
    bar.close(f"{empty.size} empty windows stored as zeros" if empty.size else None)
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
    self_label: Literal["mask", "label"] = "mask",
) -> np.ndarray:
    """Encode the history (or future) window of given rows, e.g. each target's own history h_t.

    With ``cfg.include_self`` each window includes its row (last in a history, first in a future),
    with the [MSK] label token unless ``self_label="label"``, which only retrieval-period rows may
    use (a target's label must never reach its own vector).

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
        self_label: the row's own label token when ``cfg.include_self``: "mask" or "label".

    Returns:
        (n, v) vectors aligned with ``target_ids``.

    Raises:
        DataError: when ``self_label="label"`` is asked for a row outside the retrieval period.
    """
    X, y = _features(rows, schema)
    target_ids = np.asarray(target_ids, dtype=np.int64)
    later = rows[PERIOD].to_numpy()[target_ids] != RETRIEVAL
    if cfg.include_self and self_label == "label" and later.any():
        raise DataError("encode_rows: a train / valid / test row's own label may not enter its vector")
    lo, hi = window_bounds(rows, windows, target_ids, which)
    anchor = target_ids if cfg.include_self else None
    return encode_windows(
        encoder, X, y, windows["pool_index"], lo, hi, length, cfg, out=out, anchor_ids=anchor,
        anchor_at="end" if which == "hist" else "start", mask_anchor=self_label == "mask",
        desc=f"encode {which} of {len(target_ids)} rows",
    )  # fmt: skip


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
        outs[name] = encode_windows(
            encoder, X, y, windows["pool_index"], lo, hi, length, cfg, out=outs[name],
            anchor_ids=ret if cfg.include_self else None, anchor_at="end" if name == "hist" else "start",
            mask_anchor=cfg.self_label == "mask", desc=f"datastore {name}",
        )  # fmt: skip
    if out_dir is not None:
        for arr in outs.values():
            arr.flush()
        return Datastore.load(out_dir)
    return Datastore(ret, outs["hist"], outs["fut"])
