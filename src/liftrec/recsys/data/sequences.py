"""History, future and pretraining windows as offset ranges into a pool of row ids (DESIGN.md step 2).

Windows are never materialised per row: every window is a contiguous slice ``[lo, hi)`` of
``pool_index``, so the table of windows costs a few int64 per row even at 100 M rows, and
:func:`gather_windows` turns any batch of slices into a padded (n, L) matrix of row ids on demand.

The history POOL is what may appear inside anyone's context: retrieval-period rows (exactly what
pretraining sees) plus the positives of later periods. Negatives of train / valid / test are
candidates to score, never part of a history. Which retrieval-period rows enter is
``WindowConfig.retrieval_pool``:

* ``"one_per_group"`` (default): one row per candidate group (a positive with its sampled
  negatives, same user and timestamp), the group's FIRST row. ``sample_negatives`` puts a group's
  rows in a seeded random order, so that row is the positive with probability 1 / (1 + negatives)
  and sequences still carry both labels. Why: with every row in the pool, a positive and its
  negative sit side by side in every sequence, and mask-behaviour pretraining learns to answer from
  the partner ("exactly one of these two is positive") instead of from the context: measured on the
  synthetic default, masked AUC 0.95 with the partner's label visible, 0.82 with it masked, and
  0.52 for a retrieval row whose partner is absent, i.e. the situation of every target.
* ``"all"``: every retrieval-period row (positive and negatives side by side).

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

Memory: the outputs are allocated once and filled per chunk of whole users (a user's windows never
leave its own rows), so the temporaries are per chunk and the stage needs its input plus its output
(4 int64 per row and the pool) at Taobao's 200 M rows. Chunking never changes the result.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from liftrec.recsys.config import check
from liftrec.recsys.errors import DataError
from liftrec.recsys.schema import GROUP_ID, LABEL, PAD, PERIOD, RETRIEVAL, ROW_ID, TS, USER_ID

logger = logging.getLogger(__name__)

_CHUNK_ROWS = 1 << 22  # rows per vectorised step: bounds the temporaries


@dataclass(frozen=True)
class WindowConfig:
    """Window lengths.

    Attributes:
        length: L, the number of interactions in a history, a future and a pretraining sequence.
        min_pretrain_len: pretraining chunks shorter than this are dropped.
        retrieval_pool: which retrieval-period rows enter the history pool: ``"one_per_group"``
            (the first row of each candidate group; no positive/negative pair side by side) or
            ``"all"`` (see the module docstring).
    """

    length: int = 20
    min_pretrain_len: int = 2
    retrieval_pool: Literal["one_per_group", "all"] = "one_per_group"

    def __post_init__(self) -> None:
        check(self.length >= 1, "length", f"must be >= 1, got {self.length}")
        check(
            1 <= self.min_pretrain_len <= self.length,
            "min_pretrain_len",
            f"must be in [1, length={self.length}], got {self.min_pretrain_len}",
        )
        check(
            self.retrieval_pool in ("one_per_group", "all"),
            "retrieval_pool",
            f"must be one_per_group or all, got {self.retrieval_pool!r}",
        )


def _validate(rows: pd.DataFrame, chunk_rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    missing = [c for c in (ROW_ID, USER_ID, TS, LABEL, PERIOD) if c not in rows.columns]
    if missing:
        raise DataError(f"windows: rows table lacks columns {missing}", column=missing[0])
    u, t, p, lab = (rows[c].to_numpy() for c in (USER_ID, TS, PERIOD, LABEL))
    row_id, n = rows[ROW_ID].to_numpy(), len(rows)
    # Three passes, each chunked, so the first failing check is the one the whole-table order names.
    if not all(
        np.array_equal(row_id[a : a + chunk_rows], np.arange(a, min(n, a + chunk_rows)))
        for a in range(0, n, chunk_rows)
    ):
        raise DataError("windows: row_id must equal the row position 0..n-1 (use sample_negatives' output)")
    pairs = [slice(a, a + chunk_rows + 1) for a in range(0, max(n - 1, 0), chunk_rows)]  # overlap one row
    for s in pairs:
        uc, tc = u[s], t[s]
        if not ((uc[1:] > uc[:-1]) | ((uc[1:] == uc[:-1]) & (tc[1:] >= tc[:-1]))).all():
            raise DataError("windows: rows must be sorted by (user_id, ts)", column=TS)
    for s in pairs:
        uc, pc = u[s], p[s]
        if ((uc[1:] == uc[:-1]) & (pc[1:] < pc[:-1])).any():
            raise DataError(
                "windows: period decreases in time within a user; periods must come from a global split"
            )
    return u, t, p, lab


def _group_ids(rows: pd.DataFrame) -> np.ndarray:
    if GROUP_ID not in rows.columns:
        raise DataError("windows: retrieval_pool='one_per_group' needs the group_id column", column=GROUP_ID)
    return rows[GROUP_ID].to_numpy()


def _user_cuts(u: np.ndarray, chunk_rows: int) -> np.ndarray:
    """Chunk bounds near every ``chunk_rows`` rows, moved back to the start of the user there."""
    n = len(u)
    at = np.arange(chunk_rows, n, chunk_rows)
    cuts = np.searchsorted(u, u[at], side="left") if len(at) else at  # u is sorted
    return np.unique(np.concatenate([[0], cuts, [n]])) if n else np.zeros(1, dtype=np.int64)


def build_windows(
    rows: pd.DataFrame, cfg: WindowConfig, *, chunk_rows: int = _CHUNK_ROWS
) -> dict[str, np.ndarray]:
    """Compute history, future and pretraining windows as slices of the pool index.

    Args:
        rows: the canonical rows table (row_id = position, sorted by user then ts, with label and
            period), as returned by :func:`sample_negatives`.
        cfg: window lengths.
        chunk_rows: rows per vectorised step (rounded to whole users); bounds the temporary memory
            and never changes the result.

    Returns:
        int64 arrays: ``pool_index`` (row ids of the pool, in rows order); per row ``hist_lo``,
        ``hist_hi``, ``fut_lo``, ``fut_hi`` (slices of ``pool_index``); per pretraining sequence
        ``seq_lo``, ``seq_hi``.

    Raises:
        DataError: when a column is missing, row ids are not positions or the order is wrong.
    """
    chunk_rows = max(1, int(chunk_rows))
    u_all, t_all, p_all, lab_all = _validate(rows, chunk_rows)
    n, L = len(rows), cfg.length
    cuts = _user_cuts(u_all, chunk_rows)
    one_per_group = cfg.retrieval_pool == "one_per_group"
    g_all = _group_ids(rows) if one_per_group else None

    def pool_mask(a: int, b: int) -> np.ndarray:
        retrieval = p_all[a:b] == RETRIEVAL
        if not one_per_group:
            return retrieval | (lab_all[a:b] == 1)
        g = g_all[a:b]  # a group never straddles a chunk: chunks end at user boundaries
        first = np.ones(b - a, dtype=bool)
        first[1:] = g[1:] != g[:-1]
        return np.where(retrieval, first, lab_all[a:b] == 1)

    n_pool = sum(int(np.count_nonzero(pool_mask(a, b))) for a, b in zip(cuts[:-1], cuts[1:], strict=True))
    pool_index = np.empty(n_pool, dtype=np.int64)
    out = {k: np.empty(n, dtype=np.int64) for k in ("hist_lo", "hist_hi", "fut_lo", "fut_hi")}
    seq_lo_parts, seq_hi_parts = [], []
    base = 0  # pool rows before the chunk
    for a, b in zip(cuts[:-1].tolist(), cuts[1:].tolist(), strict=True):
        u, t = u_all[a:b], t_all[a:b]
        retrieval = p_all[a:b] == RETRIEVAL
        in_pool = pool_mask(a, b)
        idx = np.flatnonzero(in_pool)
        pool_index[base : base + len(idx)] = idx + a  # row ids, since row_id = position
        # cum[i] = pool rows among rows[:a + i]
        cum = np.concatenate([[base], base + np.cumsum(in_pool, dtype=np.int64)])
        ret_cum = np.concatenate([[0], np.cumsum(retrieval, dtype=np.int64)])
        m = b - a

        first = np.ones(m, dtype=bool)  # the chunk starts a user, hence a tie block
        first[1:] = (u[1:] != u[:-1]) | (t[1:] != t[:-1])  # a (user, ts) tie block starts here
        block_starts = np.flatnonzero(first)
        block = np.cumsum(first) - 1
        b_start = block_starts[block]
        b_end = np.append(block_starts[1:], m)[block]

        new_user = np.ones(m, dtype=bool)
        new_user[1:] = u[1:] != u[:-1]
        user_starts = np.flatnonzero(new_user)
        user_ends = np.append(user_starts[1:], m)
        # Retrieval rows are each user's earliest rows (global split), so they form a prefix of its run.
        ret_end_row = user_starts + (ret_cum[user_ends] - ret_cum[user_starts])
        pool_lo_u, ret_hi_u = cum[user_starts], cum[ret_end_row]
        uid = np.cumsum(new_user) - 1

        hist_hi = out["hist_hi"][a:b]
        hist_hi[:] = cum[b_start]
        np.maximum(pool_lo_u[uid], hist_hi - L, out=out["hist_lo"][a:b])
        fut_lo = np.where(retrieval, cum[b_end], 0)
        out["fut_lo"][a:b] = fut_lo
        out["fut_hi"][a:b] = np.where(retrieval, np.minimum(fut_lo + L, ret_hi_u[uid]), 0)

        n_seq = -(-(ret_hi_u - pool_lo_u) // L)  # ceil
        owner = np.repeat(np.arange(len(user_starts)), n_seq)
        k = np.arange(len(owner)) - np.repeat(np.cumsum(n_seq) - n_seq, n_seq)
        seq_lo = pool_lo_u[owner] + k * L
        seq_hi = np.minimum(seq_lo + L, ret_hi_u[owner])
        keep = seq_hi - seq_lo >= cfg.min_pretrain_len
        seq_lo_parts.append(seq_lo[keep].astype(np.int64))
        seq_hi_parts.append(seq_hi[keep].astype(np.int64))
        base += len(idx)
    seq_lo = np.concatenate(seq_lo_parts) if seq_lo_parts else np.zeros(0, dtype=np.int64)
    seq_hi = np.concatenate(seq_hi_parts) if seq_hi_parts else np.zeros(0, dtype=np.int64)
    logger.info("windows: %d rows, pool %d, %d pretraining sequences (L=%d)", n, n_pool, len(seq_lo), L)
    return {"pool_index": pool_index, **out, "seq_lo": seq_lo, "seq_hi": seq_hi}


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
