"""History, future and pretraining windows as offset ranges into a pool of row ids (DESIGN.md step 2).

Windows are never materialised per row: every window is a contiguous slice ``[lo, hi)`` of
``pool_index``, so the table of windows costs a few int64 per row even at 100 M rows, and
:func:`gather_windows` turns any batch of slices into a padded (n, L) matrix of row ids on demand.

The history POOL is what may appear inside anyone's context: every retrieval-period row (positives
and their sampled negatives, exactly what pretraining sees) plus the positives of later periods.
Negatives of train / valid / test are candidates to score, never part of a history.

For a row r of user u at time t (``rows`` sorted by (user, ts) with row_id = position):

* history = the last L pool rows of u with ts < t (strict: rows sharing r's timestamp, r's own
  negatives included, are never in its history);
* future (retrieval rows only) = the first L pool rows of u with ts > t that are still in the
  retrieval period, so no future reaches past the retrieval period (DESIGN.md: no temporal leakage);
  other rows get an empty future (lo = hi = 0);
* pretraining sequences = each user's retrieval-period pool rows cut into consecutive chunks of L
  (the last may be shorter; chunks shorter than ``min_pretrain_len`` are dropped).

Because the rows are sorted by (user, ts) and the pool is a subsequence of them, every such set is a
contiguous run of ``pool_index``; its bounds come from a running count of pool rows evaluated at the
start / end of each (user, ts) tie block. O(n), no per-user Python loop.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from liftrec.recsys.config import check
from liftrec.recsys.errors import DataError
from liftrec.recsys.schema import LABEL, PAD, PERIOD, RETRIEVAL, ROW_ID, TS, USER_ID

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WindowConfig:
    """Window lengths.

    Attributes:
        length: L, the number of interactions in a history, a future and a pretraining sequence.
        min_pretrain_len: pretraining chunks shorter than this are dropped.
    """

    length: int = 20
    min_pretrain_len: int = 2

    def __post_init__(self) -> None:
        check(self.length >= 1, "length", f"must be >= 1, got {self.length}")
        check(
            1 <= self.min_pretrain_len <= self.length,
            "min_pretrain_len",
            f"must be in [1, length={self.length}], got {self.min_pretrain_len}",
        )


def _validate(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    missing = [c for c in (ROW_ID, USER_ID, TS, LABEL, PERIOD) if c not in rows.columns]
    if missing:
        raise DataError(f"windows: rows table lacks columns {missing}", column=missing[0])
    u = rows[USER_ID].to_numpy(dtype=np.int64)
    t = rows[TS].to_numpy(dtype=np.int64)
    p = rows[PERIOD].to_numpy(dtype=np.int64)
    lab = rows[LABEL].to_numpy()
    if not np.array_equal(rows[ROW_ID].to_numpy(), np.arange(len(rows))):
        raise DataError("windows: row_id must equal the row position 0..n-1 (use sample_negatives' output)")
    same = u[1:] == u[:-1]
    if not ((u[1:] > u[:-1]) | (same & (t[1:] >= t[:-1]))).all():
        raise DataError("windows: rows must be sorted by (user_id, ts)", column=TS)
    if (same & (p[1:] < p[:-1])).any():
        raise DataError(
            "windows: period decreases in time within a user; periods must come from a global split"
        )
    return u, t, p, lab


def build_windows(rows: pd.DataFrame, cfg: WindowConfig) -> dict[str, np.ndarray]:
    """Compute history, future and pretraining windows as slices of the pool index.

    Args:
        rows: the canonical rows table (row_id = position, sorted by user then ts, with label and
            period), as returned by :func:`sample_negatives`.
        cfg: window lengths.

    Returns:
        int64 arrays: ``pool_index`` (row ids of the pool, in rows order); per row ``hist_lo``,
        ``hist_hi``, ``fut_lo``, ``fut_hi`` (slices of ``pool_index``); per pretraining sequence
        ``seq_lo``, ``seq_hi``.

    Raises:
        DataError: when a column is missing, row ids are not positions or the order is wrong.
    """
    u, t, p, lab = _validate(rows)
    n, L = len(rows), cfg.length
    retrieval = p == RETRIEVAL
    in_pool = retrieval | (lab == 1)
    pool_index = np.flatnonzero(in_pool).astype(np.int64)  # row ids, since row_id = position
    # cum[i] = pool rows among rows[:i]
    cum = np.concatenate([[0], np.cumsum(in_pool, dtype=np.int64)])
    ret_cum = np.concatenate([[0], np.cumsum(retrieval, dtype=np.int64)])

    first = np.ones(n, dtype=bool)
    first[1:] = (u[1:] != u[:-1]) | (t[1:] != t[:-1])  # a (user, ts) tie block starts here
    block_starts = np.flatnonzero(first)
    block = np.cumsum(first) - 1
    b_start = block_starts[block]
    b_end = np.append(block_starts[1:], n)[block]

    new_user = np.ones(n, dtype=bool)
    new_user[1:] = u[1:] != u[:-1]
    user_starts = np.flatnonzero(new_user)
    user_ends = np.append(user_starts[1:], n)
    # Retrieval rows are each user's earliest rows (global split), so they form a prefix of its run.
    ret_end_row = user_starts + (ret_cum[user_ends] - ret_cum[user_starts])
    pool_lo_u, ret_hi_u = cum[user_starts], cum[ret_end_row]
    uid = np.cumsum(new_user) - 1

    hist_hi = cum[b_start]
    hist_lo = np.maximum(pool_lo_u[uid], hist_hi - L)
    fut_lo = np.where(retrieval, cum[b_end], 0)
    fut_hi = np.where(retrieval, np.minimum(fut_lo + L, ret_hi_u[uid]), 0)

    n_seq = -(-(ret_hi_u - pool_lo_u) // L)  # ceil
    owner = np.repeat(np.arange(len(user_starts)), n_seq)
    k = np.arange(len(owner)) - np.repeat(np.cumsum(n_seq) - n_seq, n_seq)
    seq_lo = pool_lo_u[owner] + k * L
    seq_hi = np.minimum(seq_lo + L, ret_hi_u[owner])
    keep = seq_hi - seq_lo >= cfg.min_pretrain_len
    logger.info(
        "windows: %d rows, pool %d, %d pretraining sequences (L=%d)", n, len(pool_index), int(keep.sum()), L
    )
    return {
        "pool_index": pool_index,
        "hist_lo": hist_lo.astype(np.int64),
        "hist_hi": hist_hi.astype(np.int64),
        "fut_lo": fut_lo.astype(np.int64),
        "fut_hi": fut_hi.astype(np.int64),
        "seq_lo": seq_lo[keep].astype(np.int64),
        "seq_hi": seq_hi[keep].astype(np.int64),
    }


def gather_windows(pool_index: np.ndarray, lo: np.ndarray, hi: np.ndarray, length: int) -> np.ndarray:
    """Materialise slices of ``pool_index`` as a left-padded matrix of row ids.

    Args:
        pool_index: row ids of the pool (from :func:`build_windows`).
        lo: (n,) slice starts.
        hi: (n,) slice ends (exclusive), ``lo <= hi``.
        length: width of the output; a slice longer than this keeps its LAST ``length`` entries.

    Returns:
        (n, length) int64 row ids, chronological (oldest to newest), left-padded with PAD (-1).
    """
    lo = np.asarray(lo, dtype=np.int64)
    hi = np.asarray(hi, dtype=np.int64)
    start = np.maximum(lo, hi - length)
    idx = hi[:, None] - length + np.arange(length, dtype=np.int64)[None, :]  # (n, length)
    valid = idx >= start[:, None]
    pool = np.asarray(pool_index, dtype=np.int64)
    if len(pool) == 0:
        return np.full(idx.shape, PAD, dtype=np.int64)
    return np.where(valid, pool[np.clip(idx, 0, len(pool) - 1)], PAD).astype(np.int64)
