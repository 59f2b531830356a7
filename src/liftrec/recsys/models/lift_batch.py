"""Assemble LIFT batches (see :mod:`liftrec.recsys.models.lift`) from row ids, vectorised.

A training / scoring set for LIFT is, per target row t: its row id, the K row ids retrieved for it
(-1 padded), its label and its own-history vector h_t. Everything else is looked up per batch:

* "x" = X[t], "keys" = X[retrieved] (0 codes where the id is -1), "key_valid" = retrieved >= 0;
* "key_label" = y[retrieved] (0 where invalid);
* "ret_hist" / "ret_fut" = the datastore vectors of the retrieved rows (zeros where invalid),
  found by binary search of the datastore's ascending row ids.

:class:`LiftBatchTransform` does this as the ``transform`` of ``ArrayBatches``, so batches are built
lazily from memory-mapped X, datastore and h_t arrays; :func:`lift_batches` wires the two.
"""

from __future__ import annotations

import numpy as np

from liftrec.recsys.errors import DataError
from liftrec.recsys.retrieval.datastore import Datastore
from liftrec.recsys.training.batching import ArrayBatches


def _gather_vectors(values: np.ndarray, pos: np.ndarray, valid: np.ndarray) -> np.ndarray:
    if values.shape[0] == 0:  # empty datastore: every id is -1
        return np.zeros((*pos.shape, values.shape[1]), dtype=values.dtype)
    vec = np.asarray(values[pos.reshape(-1)]).reshape(*pos.shape, values.shape[1])  # (B, K, v)
    vec[~valid] = 0
    return vec


def assemble_lift_batch(
    target_ids: np.ndarray,
    ret_ids: np.ndarray,
    X: np.ndarray,
    datastore: Datastore,
    *,
    y: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    own_hist: np.ndarray | None = None,
    use_history: bool = True,
    use_future: bool = True,
) -> dict[str, np.ndarray]:
    """Build one LIFT batch.

    Args:
        target_ids: (B,) target row ids.
        ret_ids: (B, K) retrieved row ids, -1 where fewer than K were found.
        X: (N, M) field codes of the rows table (memmap allowed).
        datastore: the encoded retrieval-period contexts.
        y: (N,) labels of the rows table, for "key_label" (None: no "key_label").
        labels: (B,) target labels, or None to leave "label" out (serving).
        own_hist: (B, v) the targets' own-history vectors h_t, or None to leave "own_hist" out.
        use_history: include "ret_hist".
        use_future: include "ret_fut".

    Returns:
        "x" (B, M) int64, "keys" (B, K, M) int64, "key_valid" (B, K) bool, optionally "key_label"
        (B, K) int64, "ret_hist" and "ret_fut" (B, K, v) in the datastore's dtype, "own_hist" (B, v),
        "label" (B,) float32.

    Raises:
        DataError: on mismatched shapes or a retrieved id that is not a datastore row.
    """
    target_ids = np.asarray(target_ids, dtype=np.int64)
    ret_ids = np.asarray(ret_ids, dtype=np.int64)
    if ret_ids.ndim != 2 or len(ret_ids) != len(target_ids):
        raise DataError(f"lift batch: ret_ids {ret_ids.shape} does not match {len(target_ids)} targets")
    pos, valid = datastore.positions(ret_ids)  # (B, K), (B, K)
    safe_ids = np.where(valid, ret_ids, 0)  # (B, K)
    keys = np.asarray(X[safe_ids.reshape(-1)], dtype=np.int64)  # (B*K, M)
    keys = keys.reshape(*ret_ids.shape, X.shape[1])  # (B, K, M)
    keys[~valid] = 0
    batch = {"x": np.asarray(X[target_ids], dtype=np.int64), "keys": keys, "key_valid": valid}  # x: (B, M)
    if y is not None:
        key_label = np.asarray(y[safe_ids.reshape(-1)], dtype=np.int64).reshape(ret_ids.shape)  # (B, K)
        key_label[~valid] = 0
        batch["key_label"] = key_label
    if use_history:
        batch["ret_hist"] = _gather_vectors(datastore.hist, pos, valid)  # (B, K, v)
    if use_future:
        batch["ret_fut"] = _gather_vectors(datastore.fut, pos, valid)  # (B, K, v)
    if own_hist is not None:
        own_hist = np.asarray(own_hist)
        if own_hist.shape != (len(target_ids), datastore.dim):
            expected = (len(target_ids), datastore.dim)
            raise DataError(f"lift batch: own_hist {own_hist.shape}, expected {expected}")
        batch["own_hist"] = own_hist  # (B, v)
    if labels is not None:
        batch["label"] = np.asarray(labels, dtype=np.float32)  # (B,)
    return batch


class LiftBatchTransform:
    """``ArrayBatches`` transform: slices {"row_id", "ret_ids"[, "own_hist", "label"]} -> a LIFT batch.

    Args:
        X: (N, M) field codes of the rows table (memmap allowed).
        datastore: the encoded retrieval-period contexts.
        y: (N,) labels of the rows table: the retrieved rows' "key_label", and the targets' "label"
            when the slices carry none (None: neither).
        use_history: include "ret_hist".
        use_future: include "ret_fut".
    """

    def __init__(
        self,
        X: np.ndarray,
        datastore: Datastore,
        *,
        y: np.ndarray | None = None,
        use_history: bool = True,
        use_future: bool = True,
    ) -> None:
        self.X, self.datastore, self.y = X, datastore, y
        self.use_history, self.use_future = use_history, use_future

    def __call__(self, part: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        labels = part.get("label")
        if labels is None and self.y is not None:
            labels = self.y[np.asarray(part["row_id"])]
        batch = assemble_lift_batch(
            part["row_id"],
            part["ret_ids"],
            self.X,
            self.datastore,
            y=self.y,
            labels=labels,
            own_hist=part.get("own_hist"),
            use_history=self.use_history,
            use_future=self.use_future,
        )
        batch["row_id"] = np.asarray(part["row_id"], dtype=np.int64)  # (B,) kept for joining predictions
        return batch


def lift_batches(
    target_ids: np.ndarray,
    ret_ids: np.ndarray,
    X: np.ndarray,
    y: np.ndarray | None,
    datastore: Datastore,
    own_hist: np.ndarray | None,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int,
    use_history: bool = True,
    use_future: bool = True,
    drop_last: bool = False,
) -> ArrayBatches:
    """Lazily assembled LIFT batches over a set of targets.

    Args:
        target_ids: (Q,) target row ids.
        ret_ids: (Q, K) retrieved row ids aligned with ``target_ids`` (``RetrievalResult.row_ids``).
        X: (N, M) field codes of the rows table.
        y: (N,) labels of the rows table (target "label" and "key_label"), or None (neither).
        datastore: the encoded retrieval-period contexts.
        own_hist: (Q, v) own-history vectors aligned with ``target_ids`` (memmap allowed), or None.
        batch_size: targets per batch.
        shuffle: new order every epoch (training).
        seed: seed of that order.
        use_history: include "ret_hist".
        use_future: include "ret_fut".
        drop_last: drop the final short batch.

    Returns:
        An ``ArrayBatches`` yielding LIFT batches of tensors (plus "row_id").
    """
    arrays = {"row_id": np.asarray(target_ids, dtype=np.int64), "ret_ids": ret_ids}
    if own_hist is not None:
        arrays["own_hist"] = own_hist
    transform = LiftBatchTransform(X, datastore, y=y, use_history=use_history, use_future=use_future)
    return ArrayBatches(
        arrays, batch_size, shuffle=shuffle, seed=seed, transform=transform, drop_last=drop_last
    )
