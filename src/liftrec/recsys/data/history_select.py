"""Which of a target's own past rows a history model sees: recent, same-category (SIM) or BM25 (UBR4CTR).

Every selection reads the target user's LONG history: the pool rows of the user before the target,
i.e. the pool slice ``[user_pool_start, hist_hi)`` of :func:`~liftrec.recsys.data.sequences.build_windows`
(``hist_hi`` already stops before the target's (user, ts) tie block, so no row at or after the target's
timestamp, its own candidate group included, can be selected). Output is the same as
:func:`~liftrec.recsys.data.sequences.gather_windows`: an (n, L) int64 matrix of row ids, chronological
(oldest to newest), left-padded with PAD (-1).

* ``recent``: the last L rows (``gather_windows`` on ``[user_pool_start, hist_hi)``; equal to
  ``gather_windows(hist_lo, hist_hi)`` whenever L does not exceed the windows' length).
* ``category``: SIM's hard search (Pi et al., CIKM 2020): the last L rows whose value in one field (the
  category) equals the target's. Code 0 (missing / unknown) matches nothing.
* ``bm25``: UBR4CTR's retrieval (Qin et al., SIGIR 2020): every history row is a document of its
  query-field tokens, scored against the target's query-field tokens with the project's BM25
  (:mod:`liftrec.recsys.retrieval.bm25`: one token per field, so score = sum_j IDF_j(q_j) * 1(x_j == q_j),
  summed in field order); the top L, ties (exactly equal scores: equal match sets give bit-identical
  sums) going to the more recent row, then put back in chronological order.

Both searches look at most at the last ``max_candidates`` rows of the long history. SIM caps the
user's long sequence too (its online system keeps a bounded behaviour log per user and the paper's
offline data are cut to a maximum length); here it bounds the work per target and keeps a prolific
user's ten-year-old rows out. Defaults: 1000 for ``category`` (SIM's long-sequence scale) and 200 for
``bm25`` (UBR4CTR scores every candidate, so its pool is kept smaller).

Vectorised and chunked: targets are grouped by candidate count (power-of-two width buckets, so padding
at most doubles the work) and each chunk is an (R, W) matrix of candidate positions with at most
``chunk_cells`` cells. The user start is found by a binary search over the users of ``pool_index``
(sorted, as rows are sorted by (user, ts)) restricted to the candidate range, so no pool-sized
temporary is built. No Python loop runs over rows.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from typing import Literal

import numpy as np

from liftrec.recsys.data.sequences import gather_windows
from liftrec.recsys.errors import DataError
from liftrec.recsys.retrieval.bm25 import BM25Index, IdfVariant, compute_idf
from liftrec.recsys.schema import PAD

Mode = Literal["recent", "category", "bm25"]
MODES = ("recent", "category", "bm25")
DEFAULT_MAX_CANDIDATES = {"category": 1000, "bm25": 200}  # "recent" reads only the last L rows
_CHUNK_CELLS = 1 << 22  # candidate cells per vectorised step: bounds the temporaries


def field_idf(keys: np.ndarray, variant: IdfVariant = "paper") -> list[np.ndarray]:
    """Per-field IDF tables of a document set, with the BM25 engine's formula (:func:`compute_idf`).

    Args:
        keys: (N, F) query-field codes of the documents (e.g. the retrieval-period rows), 0 = missing.
        variant: the IDF variant ("paper", "rank_bm25", "lucene").

    Returns:
        F arrays; ``idf[j][v]`` is the IDF of value v of field j (0 for v = 0 and unseen values).
    """
    keys = np.asarray(keys)
    if keys.ndim != 2:
        raise DataError(f"keys must be (N, F), got {keys.shape}")
    n, f = keys.shape
    dfs = (
        [np.bincount(keys[:, j], minlength=1).astype(np.int64) for j in range(f)]
        if n
        else [np.zeros(1, np.int64)] * f
    )
    for d in dfs:
        d[0] = 0  # value 0 is missing: no token
    # one call over every field's tokens: the rank_bm25 floor uses the mean over ALL corpus tokens
    flat = compute_idf(np.concatenate(dfs), n, variant)
    return np.split(flat, np.cumsum([len(d) for d in dfs])[:-1])


def index_idf(index: BM25Index) -> list[np.ndarray]:
    """The IDF tables a built BM25 index uses, per query field (the same numbers its search weighs)."""
    idf = np.asarray(index.idf)
    off = np.asarray(index.field_off)
    return [idf[off[j] : off[j + 1]] for j in range(len(off) - 1)]


def _user_start(
    pool_index: np.ndarray, users: np.ndarray, u: np.ndarray, hi: np.ndarray, cap: int
) -> np.ndarray:
    """First pool position of user u in [max(hi - cap, 0), hi]: binary search over sorted pool users."""
    lo = np.maximum(hi - cap, 0)
    h = hi.copy()
    act = np.flatnonzero(lo < h)
    while act.size:  # log2(cap) + 1 rounds, each over the still-open targets
        mid = (lo[act] + h[act]) // 2
        ge = users[pool_index[mid]] >= u[act]  # pool users are sorted: >= u means at or after u's start
        h[act] = np.where(ge, mid, h[act])
        lo[act] = np.where(ge, lo[act], mid + 1)
        act = act[lo[act] < h[act]]
    return lo


def _blocks(counts: np.ndarray, budget: int) -> Iterator[tuple[np.ndarray, int]]:
    """Target index chunks with their width: power-of-two buckets of ``counts``, <= budget cells each."""
    nz = np.flatnonzero(counts > 0)  # empty candidate sets stay all-PAD
    if nz.size == 0:
        return
    bucket = np.ceil(np.log2(counts[nz])).astype(np.int64)
    order = nz[np.argsort(bucket, kind="stable")]  # stable: target order inside a bucket
    sb = np.sort(bucket)
    cuts = np.flatnonzero(np.diff(sb)) + 1
    for part in np.split(order, cuts):
        width = int(counts[part].max())
        step = max(1, budget // width)
        for a in range(0, len(part), step):
            yield part[a : a + step], width


def _from_end(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Forward running count of True cells per row and the row totals (R, 1).

    A True cell's rank from the row's end (1 = the last) is ``total - cum + 1``. Counting forward and
    subtracting is ~10x faster than a cumsum over a reversed (non-contiguous) view.
    """
    cum = np.cumsum(mask, axis=1, dtype=np.int32)  # (R, W)
    return cum, cum[:, -1:]


def _last_k(mask: np.ndarray, k: int | np.ndarray) -> np.ndarray:
    """The last k True cells of each row of ``mask`` (all of them when fewer); k scalar or (R, 1)."""
    cum, total = _from_end(mask)
    return mask & (total - cum < k)


def _top_k_recent(scores: np.ndarray, valid: np.ndarray, k: int) -> np.ndarray:
    """Mask of the k best valid cells per row; equal scores go to the later column (more recent)."""
    if scores.shape[1] <= k:
        return valid
    s = np.where(valid, scores, -np.inf)
    kth = np.partition(s, s.shape[1] - k, axis=1)[:, s.shape[1] - k][:, None]  # k-th largest, (R, 1)
    greater = s > kth
    tie = valid & (s == kth)
    need = k - greater.sum(axis=1, keepdims=True)
    return greater | _last_k(tie, need)  # the most recent ties fill the remaining places


def _place(out: np.ndarray, rows: np.ndarray, keep: np.ndarray, rid: np.ndarray, length: int) -> None:
    """Write the kept cells of each row right-aligned (newest at L-1), keeping their column order."""
    cum, total = _from_end(keep)
    ri, ci = np.nonzero(keep)
    out[rows[ri], length - 1 - total[ri, 0] + cum[ri, ci]] = rid[ri, ci]


def select_histories(
    rows_X: np.ndarray,
    users: np.ndarray,
    windows: dict[str, np.ndarray],
    target_ids: np.ndarray,
    *,
    mode: Mode,
    length: int,
    field_index: int | None = None,
    query_field_idx: Sequence[int] | None = None,
    idf: Sequence[np.ndarray] | None = None,
    max_candidates: int | None = None,
    chunk_cells: int = _CHUNK_CELLS,
) -> np.ndarray:
    """Select each target's history rows from its user's long history.

    Args:
        rows_X: (N, M) field codes of the rows table (memmap allowed).
        users: (N,) user of every row (rows sorted by (user, ts), so the pool's users are sorted).
        windows: :func:`build_windows` output; reads ``pool_index`` and ``hist_hi``.
        target_ids: (n,) target row ids.
        mode: "recent", "category" or "bm25" (module docstring).
        length: L, the width of the output.
        field_index: the category field's column in ``rows_X`` (mode "category").
        query_field_idx: the query fields' columns in ``rows_X`` (mode "bm25").
        idf: per query field, IDF by code (:func:`field_idf` / :func:`index_idf`; mode "bm25").
        max_candidates: search only the last this many rows of the long history (default per mode:
            1000 category, 200 bm25; ignored by "recent").
        chunk_cells: candidate cells per vectorised step; bounds memory, never changes the result.

    Returns:
        (n, L) int64 row ids, chronological, left-padded with PAD (-1).

    Raises:
        DataError: on unknown mode, missing or inconsistent arguments, or out-of-range target ids.
    """
    if mode not in MODES:
        raise DataError(f"history selection: unknown mode {mode!r}; expected one of {list(MODES)}")
    if length < 1:
        raise DataError(f"history selection: length must be >= 1, got {length}")
    pool_index, hist_hi_all = windows["pool_index"], windows["hist_hi"]
    users = np.asarray(users)
    t = np.asarray(target_ids, dtype=np.int64)
    n_rows = len(hist_hi_all)
    if t.size and (t.min() < 0 or t.max() >= n_rows):
        raise DataError(f"history selection: target ids must be row ids in [0, {n_rows})")
    hi = np.asarray(hist_hi_all[t], dtype=np.int64)
    u = users[t]
    if mode == "recent":
        return gather_windows(pool_index, _user_start(pool_index, users, u, hi, length), hi, length)

    cap = DEFAULT_MAX_CANDIDATES[mode] if max_candidates is None else int(max_candidates)
    if cap < 1:
        raise DataError(f"history selection: max_candidates must be >= 1, got {cap}")
    if mode == "category":
        if field_index is None:
            raise DataError("history selection 'category' needs field_index (the category field)")
        cols = [int(field_index)]
        weights: list[np.ndarray] = []
    else:
        if query_field_idx is None or idf is None or len(query_field_idx) != len(idf) or not len(idf):
            raise DataError(
                "history selection 'bm25' needs query_field_idx and one IDF table per query field"
            )
        cols = [int(c) for c in query_field_idx]
        weights = [np.asarray(w, dtype=np.float64) for w in idf]
    col_idx = np.asarray(cols, dtype=np.int64)[None, :]  # (1, F): gather only the fields used
    q = np.asarray(rows_X[t[:, None], col_idx], dtype=np.int64)  # (n, F)

    start = _user_start(pool_index, users, u, hi, cap)
    out = np.full((len(t), length), PAD, dtype=np.int64)
    for rows, width in _blocks(hi - start, max(1, int(chunk_cells))):
        pos = hi[rows, None] - width + np.arange(width)[None, :]  # (R, W) pool positions
        valid = pos >= start[rows, None]  # (R, W)
        rid = np.asarray(pool_index[np.maximum(pos, 0)], dtype=np.int64)  # (R, W) row ids
        qr = q[rows]  # (R, F)
        if mode == "category":
            match = np.asarray(rows_X[rid, cols[0]]) == qr[:, :1]  # (R, W)
            keep = _last_k(valid & match & (qr[:, :1] != 0), length)
        else:
            scores = np.zeros(rid.shape, np.float64)  # (R, W), summed in field order like the engine
            for j, (c, w) in enumerate(zip(cols, weights, strict=True)):
                qj = qr[:, j]
                wj = np.where((qj > 0) & (qj < len(w)), w[np.clip(qj, 0, len(w) - 1)], 0.0)  # (R,)
                scores += np.where(np.asarray(rows_X[rid, c]) == qj[:, None], wj[:, None], 0.0)  # (R, W)
            keep = _top_k_recent(scores, valid, length)
        _place(out, rows, keep, rid, length)
    return out


def make_history_fn(
    rows_X: np.ndarray,
    users: np.ndarray,
    windows: dict[str, np.ndarray],
    **selection: object,
) -> Callable[[np.ndarray], np.ndarray]:
    """A ``HistoryFn`` for :mod:`liftrec.recsys.models.batch`: target ids -> (B, L) history row ids.

    Args:
        rows_X: (N, M) field codes of the rows table.
        users: (N,) user of every row.
        windows: :func:`build_windows` output.
        **selection: the keyword arguments of :func:`select_histories` (mode, length, ...).

    Returns:
        ``fn(target_ids) -> (B, L)`` row ids.
    """
    return functools.partial(select_histories, rows_X, users, windows, **selection)  # type: ignore[arg-type]
