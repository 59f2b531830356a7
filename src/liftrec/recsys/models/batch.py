"""One batch builder for every registered model: the groups a model reads, assembled per batch.

A model class declares ``inputs``, a set of batch groups (default ``{"x"}``):

* ``"x"``: "x" (B, M) int64, the target rows' field codes, and "label" (B,) float32;
* ``"hist"``: "hist" (B, L, M) int64, "hist_label" (B, L) int64 (0 at pads), "hist_valid" (B, L)
  bool: the target user's interactions before the target, chronological, left-padded. Which rows
  come from the ``history`` callable (the last L by default; SIM / UBR4CTR select other rows);
* ``"keys"``: "keys" (B, K, M), "key_label" (B, K), "key_valid" (B, K): the retrieved rows;
* ``"context"``: "ret_hist" / "ret_fut" (B, K, v) from the datastore and "own_hist" (B, v) (LIFT).

Everything is gathered lazily from memory-mapped arrays by :class:`ModelBatchTransform`, the
``transform`` of :class:`~liftrec.recsys.training.batching.ArrayBatches`; keys and context reuse
:func:`~liftrec.recsys.models.lift_batch.assemble_lift_batch`, so LIFT and the baselines see the same
retrieved rows the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from liftrec.recsys.errors import ConfigError
from liftrec.recsys.models.lift_batch import assemble_lift_batch
from liftrec.recsys.retrieval.datastore import Datastore
from liftrec.recsys.schema import PAD
from liftrec.recsys.training.batching import ArrayBatches

GROUPS = frozenset({"x", "hist", "keys", "context"})

HistoryFn = Callable[[np.ndarray], np.ndarray]  # (B,) target row ids -> (B, L) history row ids, PAD = -1


def model_inputs(model_cls: type) -> frozenset[str]:
    """The batch groups a model class reads (its ``inputs`` attribute, default {"x"})."""
    inputs = frozenset(getattr(model_cls, "inputs", {"x"}))
    unknown = inputs - GROUPS
    if unknown:
        raise ConfigError(
            f"model {model_cls.__name__}: unknown batch groups {sorted(unknown)}; known {sorted(GROUPS)}"
        )
    return inputs | {"x"}


def history_batch(hist_rows: np.ndarray, X: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """Field codes, labels and validity of (B, L) history row ids (PAD = -1 at padding)."""
    hist_rows = np.asarray(hist_rows, dtype=np.int64)
    valid = hist_rows != PAD  # (B, L)
    safe = np.where(valid, hist_rows, 0)  # (B, L)
    if X.shape[0] == 0:
        fields = np.zeros((*hist_rows.shape, X.shape[1]), np.int64)
        labels = np.zeros(hist_rows.shape, np.int64)
    else:
        fields = np.asarray(X[safe.reshape(-1)], dtype=np.int64).reshape(
            *hist_rows.shape, X.shape[1]
        )  # (B, L, M)
        labels = np.asarray(y[safe.reshape(-1)], dtype=np.int64).reshape(hist_rows.shape)  # (B, L)
    fields[~valid] = 0
    labels[~valid] = 0
    return {"hist": fields, "hist_label": labels, "hist_valid": valid}


class ModelBatchTransform:
    """``ArrayBatches`` transform: slices {"row_id"[, "ret_ids", "own_hist"]} -> a model's batch.

    Args:
        X: (N, M) field codes of the rows table (memmap allowed).
        y: (N,) labels of the rows table (targets' "label", retrieved rows' "key_label", histories).
        inputs: the batch groups to build (:func:`model_inputs`).
        history: target row ids -> (B, L) history row ids; required with "hist".
        datastore: the encoded contexts; required with "context".
        use_history: include "ret_hist" (with "context").
        use_future: include "ret_fut" (with "context").
    """

    def __init__(
        self,
        X: np.ndarray,
        y: np.ndarray,
        inputs: Iterable[str],
        *,
        history: HistoryFn | None = None,
        datastore: Datastore | None = None,
        use_history: bool = True,
        use_future: bool = True,
    ) -> None:
        self.X, self.y, self.inputs = X, y, frozenset(inputs)
        if "hist" in self.inputs and history is None:
            raise ConfigError("a model reading 'hist' needs a history selection")
        if "context" in self.inputs and datastore is None:
            raise ConfigError("a model reading 'context' needs the datastore")
        self.history, self.datastore = history, datastore
        self.use_history, self.use_future = use_history, use_future

    def __call__(self, part: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        ids = np.asarray(part["row_id"], dtype=np.int64)
        labels = part.get("label")
        labels = self.y[ids] if labels is None else labels
        if self.inputs & {"keys", "context"}:
            context = "context" in self.inputs
            batch = assemble_lift_batch(
                ids, part["ret_ids"], self.X, self.datastore if context else _NO_STORE,
                y=self.y, labels=labels, own_hist=part.get("own_hist") if context else None,
                use_history=context and self.use_history, use_future=context and self.use_future,
            )  # fmt: skip
        else:
            batch = {
                "x": np.asarray(self.X[ids], dtype=np.int64),
                "label": np.asarray(labels, dtype=np.float32),
            }
        if "hist" in self.inputs:
            batch.update(history_batch(self.history(ids), self.X, self.y))  # type: ignore[misc]
        batch["row_id"] = ids  # (B,) kept for joining predictions
        return batch


class _AnyRow:
    """Datastore stand-in for keys without context: every id >= 0 is a valid position."""

    row_ids = np.zeros(0, np.int64)
    dim = 0

    @staticmethod
    def positions(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ids = np.asarray(ids)
        return np.zeros(ids.shape, np.int64), ids >= 0


_NO_STORE = _AnyRow()


def model_batches(
    inputs: Iterable[str],
    target_ids: np.ndarray,
    X: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int,
    ret_ids: np.ndarray | None = None,
    own_hist: np.ndarray | None = None,
    history: HistoryFn | None = None,
    datastore: Datastore | None = None,
    use_history: bool = True,
    use_future: bool = True,
) -> ArrayBatches:
    """Lazily assembled batches of a model's ``inputs`` over a set of targets.

    Args:
        inputs: batch groups (:func:`model_inputs`).
        target_ids: (Q,) target row ids.
        X: (N, M) field codes of the rows table.
        y: (N,) labels of the rows table.
        batch_size: targets per batch.
        shuffle: new order every epoch (training).
        seed: seed of that order.
        ret_ids: (Q, K) retrieved row ids (with "keys" / "context").
        own_hist: (Q, v) own-history vectors (with "context").
        history: target ids -> (B, L) history row ids (with "hist").
        datastore: encoded contexts (with "context").
        use_history: include "ret_hist".
        use_future: include "ret_fut".

    Returns:
        An ``ArrayBatches`` yielding batches of tensors plus "row_id".
    """
    inputs = frozenset(inputs)
    arrays: dict[str, np.ndarray] = {"row_id": np.asarray(target_ids, dtype=np.int64)}
    if inputs & {"keys", "context"}:
        if ret_ids is None:
            raise ConfigError("a model reading retrieved rows needs the retrieval results")
        arrays["ret_ids"] = ret_ids
    if "context" in inputs and own_hist is not None:
        arrays["own_hist"] = own_hist
    transform = ModelBatchTransform(X, y, inputs, history=history, datastore=datastore,
                                    use_history=use_history, use_future=use_future)  # fmt: skip
    return ArrayBatches(arrays, batch_size, shuffle=shuffle, seed=seed, transform=transform)
