"""Random retrieval: K uniformly drawn earlier retrieval-period rows of other users (a control for BM25).

Each target gets K distinct rows drawn uniformly, without replacement, from the retrieval-period rows
with ts < the target's ts, excluding the target's own user (``exclude_own_user``, as the BM25
retriever does by default). The result has the BM25 retriever's contract
(:class:`~liftrec.recsys.retrieval.bm25.RetrievalResult` ``row_ids``): (Q, K) int64, -1 where fewer
than K rows are eligible, found rows first (latest first: ts then row id descending, like BM25's
``latest`` tie order; the rows themselves are uniform draws, so no tie rule biases them). Feeding it
to RIM / LIFT in place of BM25's top-K measures what the retriever contributes.

Why this is NOT "FATE". The LIFT paper's CTR table lists FATE: Wu, Yang and Yan, "Towards Open-World
Feature Extrapolation: An Inductive Graph Learning Approach", NeurIPS 2021 (github qitianwu/FATE). FATE
is not a retrieval method: a backbone network (e.g. a feed-forward net over field embeddings) predicts
the label, and a graph neural network over a bipartite feature-instance graph built from the observed
data (a mini-batch of rows and their one-hot feature values) computes the embeddings of features, so
that features unseen in training get embeddings by message passing at test time (trained with
self-supervised / inductive feature dropping, DropEdge, asynchronous updates). A faithful version is a
model of its own (a GNN over each batch's feature-instance graph), not a data-side selection; this
module is the random-retrieval control the retrieval baselines need, named for what it is.

Algorithm (vectorised, no loop over rows): retrieval rows are ordered by (ts, row id), so the rows
with ts < t are a prefix [0, c). A uniform K-subset of the A = c - o eligible ranks (o = own-user rows
in the prefix) is drawn with Floyd's algorithm, vectorised over targets (K rounds, one draw per target
per round); a rank r maps to the r-th prefix position not held by the user through a binary search in
the user's sorted positions shifted by their index (p = r + #{i : P_u[i] - i <= r}).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from liftrec.recsys.errors import DataError
from liftrec.recsys.schema import PERIOD, RETRIEVAL, ROW_ID, TS, USER_ID, target_mask

_CHUNK_ROWS = 1 << 20  # targets per vectorised step (the draws are made chunk by chunk, in order)


def _search(a: np.ndarray, v: np.ndarray, side: str = "left") -> np.ndarray:
    """``np.searchsorted(a, v)`` for any shape of v, needles sorted first (cache-friendly, ~6x faster)."""
    flat = v.ravel()
    order = np.argsort(flat, kind="stable")
    out = np.empty(flat.shape, np.int64)
    out[order] = np.searchsorted(a, flat[order], side=side)  # type: ignore[call-overload]
    return out.reshape(v.shape)


def _floyd(avail: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """(Q, k) distinct uniform ranks in [0, avail[q]) per row, -1 where avail < k (then all ranks)."""
    q = len(avail)
    chosen = np.full((q, k), -1, dtype=np.int64)
    full = avail >= k
    for i in range(k):
        j = avail - k + i  # Floyd: draw t in [0, j]; if t was taken, take j (new at this round)
        t = rng.integers(0, np.maximum(j, 0) + 1)  # one draw per target per round, whatever avail is
        taken = (chosen[:, :i] == t[:, None]).any(axis=1)
        chosen[:, i] = np.where(full, np.where(taken, j, t), np.where(i < avail, i, -1))
    return chosen


def random_retrieval(
    row_ids: np.ndarray,
    users: np.ndarray,
    ts: np.ndarray,
    query_users: np.ndarray,
    max_ts: np.ndarray,
    k: int,
    rng: np.random.Generator,
    *,
    exclude_own_user: bool = True,
    chunk_rows: int = _CHUNK_ROWS,
) -> np.ndarray:
    """K random earlier retrieval-period rows per target.

    Args:
        row_ids: (N,) unique row ids of the retrieval-period rows.
        users: (N,) their users.
        ts: (N,) their timestamps.
        query_users: (Q,) each target's user.
        max_ts: (Q,) each target's timestamp; only rows with ts < max_ts[q] are eligible.
        k: rows per target.
        rng: the generator of the draws (the result is a function of its state and ``chunk_rows``).
        exclude_own_user: never return rows of the target's own user.
        chunk_rows: targets per vectorised step.

    Returns:
        (Q, K) int64 row ids, latest first, -1 where fewer than K rows are eligible.

    Raises:
        DataError: on mismatched shapes or k < 1.
    """
    row_ids, users, ts = (np.asarray(a, dtype=np.int64) for a in (row_ids, users, ts))
    query_users, max_ts = np.asarray(query_users, dtype=np.int64), np.asarray(max_ts, dtype=np.int64)
    n, nq = len(row_ids), len(query_users)
    if users.shape != (n,) or ts.shape != (n,) or max_ts.shape != (nq,) or row_ids.ndim != 1:
        raise DataError("random retrieval: row_ids/users/ts must be (N,) and query_users/max_ts (Q,)")
    if k < 1:
        raise DataError(f"random retrieval: k must be >= 1, got {k}")
    order = np.lexsort((row_ids, ts))  # position -> row: ts, then row id, ascending
    s_ts, s_ids = ts[order], row_ids[order]
    book, ucode = np.unique(users[order], return_inverse=True)  # dense user codes
    stride = n + 1  # composite key user * stride + position: sorted by user, then position
    by_user = np.lexsort((np.arange(n), ucode))  # positions grouped by user, ascending
    own_pos = by_user.astype(np.int64)
    grouped = ucode[by_user]
    new = np.ones(n, bool)
    new[1:] = grouped[1:] != grouped[:-1]
    starts = np.flatnonzero(new)
    own_rank = np.arange(n) - np.repeat(starts, np.diff(np.append(starts, n)))  # i within the user's rows
    key_pos = grouped * stride + own_pos  # sorted
    key_adj = grouped * stride + (own_pos - own_rank)  # P_u[i] - i is non-decreasing: sorted
    out = np.full((nq, k), -1, dtype=np.int64)
    for a in range(0, nq, max(1, int(chunk_rows))):
        b = min(nq, a + max(1, int(chunk_rows)))
        c = _search(s_ts, max_ts[a:b])  # rows with ts < max_ts: positions [0, c)
        if exclude_own_user and n:
            idx = np.minimum(_search(book, query_users[a:b]), len(book) - 1)
            known = book[idx] == query_users[a:b]
            base = np.where(known, idx, -1) * stride  # unknown user: owns nothing (-stride < every key)
            first = _search(key_pos, base)
            o = np.where(known, _search(key_pos, base + c) - first, 0)
        else:
            o = 0
        ranks = _floyd(c - o, k, rng)  # (B, K)
        ranks = -np.sort(-ranks, axis=1)  # latest first, -1 last
        ok = ranks >= 0
        r = np.maximum(ranks, 0)
        if exclude_own_user and n:
            skip = _search(key_adj, base[:, None] + r, side="right") - first[:, None]  # (B, K)
            pos = r + np.where(known[:, None], skip, 0)
        else:
            pos = r
        out[a:b] = np.where(ok, s_ids[np.minimum(pos, max(n - 1, 0))] if n else -1, -1)
    return out


def random_retrieval_for_rows(
    rows: pd.DataFrame, k: int, rng: np.random.Generator, *, exclude_own_user: bool = True
) -> dict[str, np.ndarray]:
    """Random retrieval for every train / valid / test row, shaped like the BM25 stage's output.

    Args:
        rows: canonical rows table (row_id, user_id, ts, period).
        k: rows per target.
        rng: generator of the draws.
        exclude_own_user: never return rows of the target's own user.

    Returns:
        {"target_ids" (Q,), "row_ids" (Q, K), "scores" (Q, K)}: scores are 0 where a row was drawn
        and -inf where the id is -1 (random retrieval ranks nothing).
    """
    period = rows[PERIOD].to_numpy()
    ret = period == RETRIEVAL
    ids, users, ts = (rows[c].to_numpy(np.int64) for c in (ROW_ID, USER_ID, TS))
    tgt = target_mask(rows)
    got = random_retrieval(ids[ret], users[ret], ts[ret], users[tgt], ts[tgt], k, rng,
                           exclude_own_user=exclude_own_user)  # fmt: skip
    return {"target_ids": ids[tgt], "row_ids": got, "scores": np.where(got >= 0, 0.0, -np.inf)}
