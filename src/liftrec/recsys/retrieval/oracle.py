"""Reference BM25 retriever on ``rank_bm25.BM25Okapi`` (tests and benchmarks only: a Python loop
over every document per query token, ~1.5 queries/s at 1 M rows).

Documents are the rows' string tokens ``f"{j}:{v}"`` (v = 0 is missing: no token). Scores:

* ``rank_bm25``: ``BM25Okapi.get_scores`` itself when every document has the full length F (then
  its tf / length factor is exactly 1 and the score is the sum of its floored IDFs); with missing
  values, the sum of ``BM25Okapi.idf`` over matched tokens (the DESIGN.md formula, no length term);
* ``paper`` / ``lucene``: the chosen IDF computed here (``math.log``) from rank-bm25's own document
  frequencies, summed over matched tokens in field order.

The own-user exclusion, the ``max_ts`` filter and the tie rule (scores within ``tie_tolerance``
tie, then ``latest``: larger ts, then larger row_id, sorted here independently of the engine; or
``shuffled``: the seeded order of :func:`~.bm25.tie_order`) are applied by brute force over all N
rows.
"""

from __future__ import annotations

import copy
import math

import numpy as np
from rank_bm25 import BM25Okapi

from liftrec.recsys.retrieval.bm25 import BM25Config, RetrievalResult, tie_order


class _Okapi(BM25Okapi):
    """BM25Okapi that keeps its document-frequency table (rank-bm25 discards it after the IDFs)."""

    def _calc_idf(self, nd: dict[str, int]) -> None:
        self.doc_count = dict(nd)
        super()._calc_idf(nd)


def _idf(variant: str, n_rows: int, n: int) -> float:
    if variant == "paper":
        return math.log((n_rows - n + 0.5) / (n + 0.5))
    if variant == "lucene":
        return math.log(1.0 + (n_rows - n + 0.5) / (n + 0.5))
    raise ValueError(variant)


class OracleBM25:
    """Brute-force top-K over ``rank_bm25.BM25Okapi``; same build / search signature as BM25Index."""

    def __init__(
        self, keys: np.ndarray, row_ids: np.ndarray, users: np.ndarray, ts: np.ndarray, cfg: BM25Config
    ) -> None:
        self.keys = np.asarray(keys, dtype=np.int64)
        self.row_ids = np.asarray(row_ids, dtype=np.int64)
        self.users = np.asarray(users, dtype=np.int64)
        self.ts = np.asarray(ts, dtype=np.int64)
        self.n_fields = self.keys.shape[1]
        corpus = [[f"{j}:{v}" for j, v in enumerate(row) if v != 0] for row in self.keys.tolist()]
        self.full_length = all(len(doc) == self.n_fields for doc in corpus)
        self.bm25 = _Okapi(corpus)
        self._configure(cfg)

    def _configure(self, cfg: BM25Config) -> None:
        """IDFs and tie order for ``cfg`` over the rank-bm25 tables."""
        self.cfg = cfg
        n = self.bm25.corpus_size
        if cfg.idf == "rank_bm25":
            self.idf = dict(self.bm25.idf)
        else:
            self.idf = {tok: _idf(cfg.idf, n, df) for tok, df in self.bm25.doc_count.items()}
        if cfg.tie_break == "latest":
            order = np.lexsort((-self.row_ids, -self.ts))  # ts desc, then row_id desc
        else:
            order = tie_order(self.row_ids, self.ts, cfg.tie_break, cfg.tie_seed)
        self.tie_pos = np.empty(len(order), np.int64)  # per row: its place in the tie order, 0 wins
        self.tie_pos[order] = np.arange(len(order))

    def with_config(self, cfg: BM25Config) -> OracleBM25:
        """A copy sharing the rank-bm25 tables (the slow part), searched with ``cfg``, any tie rule."""
        other = copy.copy(self)
        other._configure(cfg)
        return other

    @classmethod
    def build(
        cls, keys: np.ndarray, row_ids: np.ndarray, users: np.ndarray, ts: np.ndarray, cfg: BM25Config
    ) -> OracleBM25:
        """Index the rows (see :meth:`BM25Index.build`)."""
        return cls(keys, row_ids, users, ts, cfg)

    def scores(self, query: np.ndarray) -> np.ndarray:
        """(N,) float64 score of every row for one query (codes (F,), 0 = missing)."""
        tokens = [f"{j}:{v}" for j, v in enumerate(np.asarray(query).tolist()) if v != 0]
        if self.cfg.idf == "rank_bm25" and self.full_length:
            return self.bm25.get_scores(tokens)
        score = np.zeros(self.bm25.corpus_size)
        for tok in tokens:  # field order, like get_scores
            match = np.array([tok in doc for doc in self.bm25.doc_freqs], dtype=np.float64)
            score += self.idf.get(tok, 0.0) * match
        return score

    def top_k(self, score: np.ndarray, eligible: np.ndarray, k: int) -> np.ndarray:
        """Indices of the top-k eligible rows under the tie rule, best first."""
        tol = self.cfg.tie_tolerance
        idx = np.flatnonzero(eligible)
        if len(idx) > k:  # only rows within tol of the k-th best score can reach the top k
            kth = np.partition(score[idx], len(idx) - k)[len(idx) - k]
            idx = idx[score[idx] >= kth - tol]
        idx = idx[np.lexsort((self.tie_pos[idx], -score[idx]))]
        out, start = [], 0
        while start < len(idx) and len(out) < k:  # a run of scores each within tol of the next ties
            end = start + 1
            while end < len(idx) and score[idx[end - 1]] - score[idx[end]] <= tol:
                end += 1
            group = idx[start:end]
            out.extend(group[np.argsort(self.tie_pos[group])].tolist())
            start = end
        return np.asarray(out[:k], dtype=np.int64)

    def search(
        self,
        queries: np.ndarray,
        *,
        query_users: np.ndarray | None = None,
        max_ts: np.ndarray | None = None,
        k: int | None = None,
    ) -> RetrievalResult:
        """Top-K per query by brute force (see :meth:`BM25Index.search`)."""
        queries = np.asarray(queries, dtype=np.int64)
        k = self.cfg.k if k is None else int(k)
        nq = queries.shape[0]
        row_ids = np.full((nq, k), -1, np.int64)
        scores = np.full((nq, k), -np.inf)
        for q in range(nq):
            score = self.scores(queries[q])
            eligible = np.ones(len(score), bool)
            if query_users is not None and self.cfg.exclude_own_user:
                eligible &= self.users != query_users[q]
            if max_ts is not None:
                eligible &= self.ts < max_ts[q]
            top = self.top_k(score, eligible, k)
            row_ids[q, : len(top)] = self.row_ids[top]
            scores[q, : len(top)] = score[top]
        return RetrievalResult(row_ids=row_ids, scores=scores)
