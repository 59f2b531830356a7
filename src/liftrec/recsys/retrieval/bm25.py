"""BM25 retriever R of LIFT (KDD 2025, DESIGN.md §6): exact top-K over field-qualified tokens.

A document is one retrieval-set row; its tokens are the pairs (field j, value) of its query
fields (value 0 = missing, no token). Every query token has term frequency 1 and every document
the same length, so BM25Okapi's saturation and length terms are 1 and

    score(query, row) = sum_j IDF(token_j) * 1(query_j == row_j)       (summed in field order)

with IDF over the N indexed rows and the token's document frequency n:

* ``paper``:     log((N - n + 0.5) / (n + 0.5)) -- negative when n > N / 2, handled exactly;
* ``rank_bm25``: log(N - n + 0.5) - log(n + 0.5), negatives replaced by 0.25 * mean IDF (the mean
  over every distinct corpus token before flooring), as ``rank_bm25.BM25Okapi`` does;
* ``lucene``:    log(1 + (N - n + 0.5) / (n + 0.5)).

Top-K order (every implementation): score descending, scores within ``tie_tolerance`` tie, and
ties go to the row that comes first in a fixed total order of the indexed rows, ``tie_order``:

* ``shuffled`` (default): a permutation drawn from a generator seeded by ``tie_seed`` over the rows
  taken in row_id order, so it depends on the seed and the set of row ids only;
* ``latest``: larger ts, then larger row_id. Categorical tokens make ties the rule rather than the
  exception (~90 % of queries tie at the K-th score), so this picks mostly rows from the end of
  the retrieval period, whose future windows the period's end cuts short (docs/retrieval.md).

``row_ids`` must be unique. Rows matching no query token score 0 and are candidates too. The engine
(:class:`BM25Index`) is an inverted index with exact max-score pruning in numba
(``bm25_kernels.py``); :class:`~.oracle.OracleBM25` is the slow reference built on ``rank-bm25``
and must agree with it row for row.
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from liftrec.recsys.config import check, from_dict
from liftrec.recsys.errors import DataError
from liftrec.recsys.progress import progress
from liftrec.recsys.retrieval import bm25_kernels as kern
from liftrec.recsys.training.device import keep_torch_threads

if TYPE_CHECKING:
    from liftrec.recsys.retrieval.oracle import OracleBM25

logger = logging.getLogger(__name__)

IdfVariant = Literal["paper", "rank_bm25", "lucene"]
TieBreak = Literal["shuffled", "latest"]
RANK_BM25_EPSILON = 0.25  # BM25Okapi's default floor factor
_FORMAT = 2  # 2: positions follow the configured tie order (1: always latest first)
_INT32_MAX = 2**31 - 1
_TIE_SALT = 0xB25  # second word of the "shuffled" order's seed
_ARRAYS = ("table", "postings", "ptr", "field_off", "pos_row_ids", "pos_ts", "users")

if not kern.HAVE_NUMBA:
    logger.warning("numba is not importable: the BM25 engine runs its kernels as plain Python (slow)")


@dataclass(frozen=True)
class BM25Config:
    """Retriever parameters (``from_dict(BM25Config, d, "retrieval")``).

    Attributes:
        k: rows returned per query.
        idf: IDF variant, see the module docstring.
        exclude_own_user: never return rows of the query's own user (when query users are given).
        tie_tolerance: scores within this are ties, ordered by ``tie_break``.
        tie_break: "shuffled" (a seeded random order of the rows) or "latest" (ts, then row_id,
            descending); see the module docstring. Fixed when the index is built.
        tie_seed: seed of the "shuffled" order (unused by "latest").
        query_batch: queries per kernel call.
        threads: numba threads, 0 = all cores.
    """

    k: int = 10
    idf: IdfVariant = "paper"
    exclude_own_user: bool = True
    tie_tolerance: float = 1e-9
    tie_break: TieBreak = "shuffled"
    tie_seed: int = 0
    query_batch: int = 4096
    threads: int = 0

    def __post_init__(self) -> None:
        check(self.k >= 1, "k", f"must be >= 1, got {self.k}")
        check(self.idf in ("paper", "rank_bm25", "lucene"), "idf", f"unknown variant {self.idf!r}")
        tol = self.tie_tolerance
        check(0.0 <= tol < 1e-3, "tie_tolerance", f"must be in [0, 1e-3), got {tol}")
        check(self.tie_break in ("shuffled", "latest"), "tie_break", f"unknown rule {self.tie_break!r}")
        check(self.tie_seed >= 0, "tie_seed", f"must be >= 0, got {self.tie_seed}")
        check(self.query_batch >= 1, "query_batch", f"must be >= 1, got {self.query_batch}")
        check(self.threads >= 0, "threads", f"must be >= 0, got {self.threads}")


@dataclass
class RetrievalResult:
    """Top-K per query, best first.

    Attributes:
        row_ids: (Q, K) int64 retrieved row ids, -1 where fewer than K rows are candidates.
        scores: (Q, K) float64 BM25 scores, -inf where ``row_ids`` is -1.
    """

    row_ids: np.ndarray
    scores: np.ndarray


def compute_idf(df: np.ndarray, n_rows: int, variant: IdfVariant) -> np.ndarray:
    """IDF per token from document frequencies; tokens with df = 0 get 0 (they match nothing).

    Args:
        df: (T,) document frequency of each token.
        n_rows: N, the number of indexed rows.
        variant: "paper", "rank_bm25" or "lucene".

    Returns:
        (T,) float64 IDFs.
    """
    n = np.asarray(df, dtype=np.float64)
    present = n > 0
    out = np.zeros(n.shape, np.float64)
    if not present.any():
        return out
    n = n[present]
    if variant == "paper":
        idf = np.log((n_rows - n + 0.5) / (n + 0.5))
    elif variant == "lucene":
        idf = np.log(1.0 + (n_rows - n + 0.5) / (n + 0.5))
    elif variant == "rank_bm25":
        idf = np.log(n_rows - n + 0.5) - np.log(n + 0.5)
        idf = np.where(idf < 0, RANK_BM25_EPSILON * idf.mean(), idf)
    else:
        raise ValueError(f"unknown IDF variant {variant!r}")
    out[present] = idf
    return out


def tie_order(row_ids: np.ndarray, ts: np.ndarray, tie_break: TieBreak, tie_seed: int = 0) -> np.ndarray:
    """The rows in tie order, winner first: ``order[p]`` is the input row placed at position p.

    Args:
        row_ids: (N,) unique row ids.
        ts: (N,) timestamps.
        tie_break: "latest" (ts, then row_id, descending) or "shuffled" (a permutation drawn from
            ``default_rng([tie_seed, 0xB25])`` over the rows sorted by row_id: independent of the input
            order).
        tie_seed: seed of "shuffled".

    Returns:
        (N,) int64 permutation of ``range(N)``.
    """
    row_ids, ts = np.asarray(row_ids), np.asarray(ts)
    if tie_break == "latest":
        return np.lexsort((row_ids, ts))[::-1].astype(np.int64)
    if tie_break == "shuffled":
        by_id = np.argsort(row_ids, kind="stable")
        # salted: a caller's default_rng(tie_seed) permutation (e.g. its row ids) must not undo this one
        rng = np.random.default_rng([tie_seed, _TIE_SALT])
        return by_id[rng.permutation(len(row_ids))].astype(np.int64)
    raise ValueError(f"unknown tie rule {tie_break!r}")


def _tie_rule(cfg: BM25Config) -> tuple[str, int]:
    """What fixes the positions of an index: the rule, and the seed when it matters."""
    return (cfg.tie_break, cfg.tie_seed if cfg.tie_break == "shuffled" else 0)


def _as_codes(keys: np.ndarray) -> np.ndarray:
    keys = np.asarray(keys)
    if keys.ndim != 2 or not np.issubdtype(keys.dtype, np.integer):
        raise DataError(f"keys must be a 2-D integer array (N, F), got {keys.dtype} {keys.shape}")
    return np.ascontiguousarray(keys)


def _check_vector(name: str, a: np.ndarray | None, n: int) -> np.ndarray:
    a = np.asarray(a)
    if a.shape != (n,) or not (np.issubdtype(a.dtype, np.integer) or a.size == 0):
        raise DataError(f"{name} must be an integer array of shape ({n},), got {a.dtype} {a.shape}")
    return a.astype(np.int64, copy=False)


def _user_codes(users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int32 user codes for the row table and their code book (empty: users are their own codes)."""
    if users.size == 0 or (users.min() >= 0 and users.max() < _INT32_MAX):
        return users.astype(np.int32), np.zeros(0, np.int64)
    book = np.unique(users)
    if len(book) >= _INT32_MAX:
        raise DataError("too many distinct users for int32 codes")
    return np.searchsorted(book, users).astype(np.int32), book


def _query_user_codes(book: np.ndarray, users: np.ndarray) -> np.ndarray:
    """Codes of the query users; -1 (matches no row) for users absent from the index."""
    if book.size == 0:
        return np.where((users >= 0) & (users < _INT32_MAX), users, -1).astype(np.int32)
    idx = np.minimum(np.searchsorted(book, users), len(book) - 1)
    return np.where(book[idx] == users, idx, -1).astype(np.int32)


class BM25Index:
    """The fast exact engine: inverted index over (field, value) tokens plus a row table.

    Memory: postings 4 bytes per non-missing (row, field), row table 4 bytes per (row, field + 1),
    plus 16 bytes per row (row id and ts by position) and 16 bytes per token (list offset, IDF).
    """

    def __init__(self, arrays: dict[str, np.ndarray], cfg: BM25Config) -> None:
        self.cfg = cfg
        for name in _ARRAYS:
            setattr(self, name, arrays[name])
        self.n_rows, self.n_fields = int(self.table.shape[0]), int(self.table.shape[1] - 1)
        self.card = np.diff(self.field_off)  # per field: values 0..card-1 have token ids
        self.idf = compute_idf(np.diff(self.ptr), self.n_rows, cfg.idf)

    @classmethod
    @keep_torch_threads
    def build(
        cls, keys: np.ndarray, row_ids: np.ndarray, users: np.ndarray, ts: np.ndarray, cfg: BM25Config
    ) -> BM25Index:
        """Index the retrieval set.

        Args:
            keys: (N, F) non-negative integer dense codes of the query fields, 0 = missing.
            row_ids: (N,) unique row ids.
            users: (N,) user of each row.
            ts: (N,) timestamp of each row.
            cfg: retriever parameters.

        Returns:
            The index.

        Raises:
            DataError: on shapes, dtypes or negative / too large codes.
        """
        keys = _as_codes(keys)
        n, f = keys.shape
        row_ids = _check_vector("row_ids", row_ids, n)
        users = _check_vector("users", users, n)
        ts = _check_vector("ts", ts, n)
        if n and (keys.min() < 0 or keys.max() >= _INT32_MAX):
            raise DataError("keys must be dense codes in [0, 2**31 - 1)")
        order = tie_order(row_ids, ts, cfg.tie_break, cfg.tie_seed)  # position -> input row
        user_codes, user_book = _user_codes(users)
        table = np.empty((n, f + 1), np.int32)
        kern.fill_table(keys, order, user_codes, table)
        del user_codes
        card = keys.max(axis=0).astype(np.int64) + 1 if n else np.ones(f, np.int64)
        field_off = np.concatenate([[0], np.cumsum(card)]).astype(np.int64)
        counts = np.zeros(int(field_off[-1]), np.int64)
        kern.count_tokens(table, field_off, counts)
        ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        del counts
        postings = np.empty(int(ptr[-1]), np.int32)
        kern.scatter_postings(table, field_off, ptr, postings)
        arrays = dict(
            table=table, postings=postings, ptr=ptr, field_off=field_off,
            pos_row_ids=row_ids[order], pos_ts=ts[order], users=user_book,
        )  # fmt: skip
        index = cls(arrays, cfg)
        mb = index.nbytes / 1e6
        logger.info("BM25 index: %d rows, %d fields, %d tokens, %.0f MB", n, f, len(ptr) - 1, mb)
        return index

    def with_config(self, cfg: BM25Config) -> BM25Index:
        """The same index (arrays shared, not copied) searched with other parameters, e.g. another IDF.

        Raises:
            ValueError: when ``cfg`` has another tie rule (it fixes the row positions: rebuild).
        """
        if _tie_rule(cfg) != _tie_rule(self.cfg):
            raise ValueError(
                f"the index was built for ties {_tie_rule(self.cfg)}, not {_tie_rule(cfg)}: rebuild"
            )
        return type(self)({a: getattr(self, a) for a in _ARRAYS}, cfg)

    @functools.cached_property
    def _last_ts(self) -> int:
        """The latest indexed ts (computed once: the online path searches in many small calls)."""
        return int(np.max(self.pos_ts))

    @property
    def nbytes(self) -> int:
        """Bytes held by the index arrays."""
        return sum(int(getattr(self, a).nbytes) for a in _ARRAYS) + int(self.idf.nbytes)

    @keep_torch_threads
    def search(
        self,
        queries: np.ndarray,
        *,
        query_users: np.ndarray | None = None,
        max_ts: np.ndarray | None = None,
        k: int | None = None,
    ) -> RetrievalResult:
        """Exact top-K rows per query.

        Args:
            queries: (Q, F) codes of the query fields, 0 = missing (no token).
            query_users: (Q,) the query's user; its rows are skipped when ``cfg.exclude_own_user``.
            max_ts: (Q,) only rows with ts < max_ts[q] are candidates.
            k: rows per query (default ``cfg.k``).

        Returns:
            RetrievalResult with (Q, K) row ids (-1 padded) and float64 scores (-inf padded).
        """
        queries = _as_codes(queries)
        nq = queries.shape[0]
        if queries.shape[1] != self.n_fields:
            raise DataError(f"queries have {queries.shape[1]} fields, the index has {self.n_fields}")
        k = self.cfg.k if k is None else int(k)
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        qu = np.full(nq, -1, np.int32)
        if query_users is not None and self.cfg.exclude_own_user:
            qu = _query_user_codes(np.asarray(self.users), _check_vector("query_users", query_users, nq))
        pos_ts = np.asarray(self.pos_ts)
        pmin = np.zeros(nq, np.int64)
        tcut = np.full(nq, kern.NO_TS_CUT, np.int64)
        if max_ts is not None:
            m = _check_vector("max_ts", max_ts, nq)
            if self.cfg.tie_break == "latest":  # positions are in ts order: the cut-off bounds them
                pmin = kern.positions_below(pos_ts, m)
            elif self.n_rows:  # a per-row test, only for queries whose cut-off excludes some row
                tcut = np.where(m <= self._last_ts, m, kern.NO_TS_CUT)
        kern.set_threads(self.cfg.threads)
        out_pos = np.empty((nq, k), np.int64)
        out_score = np.empty((nq, k), np.float64)
        table, postings, ptr = (np.asarray(a) for a in (self.table, self.postings, self.ptr))
        # a bar (queries/s) and a summary line only for long work: more than one kernel call
        many = nq > self.cfg.query_batch
        with progress(
            nq, f"BM25 top-{k} search", "query", enabled=None if many else False, log=logger if many else None
        ) as bar:
            for a in range(0, nq, self.cfg.query_batch):
                b = min(nq, a + self.cfg.query_batch)
                qv = queries[a:b].astype(np.int64, copy=False)
                valid = (qv > 0) & (qv < self.card[None, :])
                qt = np.where(valid, self.field_off[:-1][None, :] + qv, 0)
                qw = np.where(valid, self.idf[qt], 0.0)
                qv32 = np.where(valid, qv, 0).astype(np.int32)
                kern.search_batch(
                    table, postings, ptr, pos_ts, qv32, qw, qt, qu[a:b], pmin[a:b], tcut[a:b],
                    float(self.cfg.tie_tolerance), out_pos[a:b], out_score[a:b],
                )  # fmt: skip
                bar.update(b - a)
        pos_row_ids = np.asarray(self.pos_row_ids)
        row_ids = np.where(out_pos >= 0, pos_row_ids[np.maximum(out_pos, 0)], -1) if self.n_rows else out_pos
        return RetrievalResult(row_ids=row_ids.astype(np.int64), scores=out_score)

    def save(self, directory: str | Path) -> None:
        """Write the index as .npy arrays (memory-mappable) plus ``meta.json``."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        for name in _ARRAYS:
            np.save(d / f"{name}.npy", np.asarray(getattr(self, name)))
        meta = dict(format=_FORMAT, n_rows=self.n_rows, n_fields=self.n_fields, config=asdict(self.cfg))
        (d / "meta.json").write_text(json.dumps(meta, indent=1))

    @classmethod
    def load(cls, directory: str | Path, mmap: bool = True, cfg: BM25Config | None = None) -> BM25Index:
        """Read an index written by :meth:`save`.

        Args:
            directory: the folder given to ``save``.
            mmap: memory-map the arrays instead of reading them.
            cfg: override the saved search parameters (IDFs are recomputed for its variant); its tie
                rule must be the saved one.

        Returns:
            The index.

        Raises:
            DataError: on another format (rebuild the index) or another tie rule in ``cfg``.
        """
        d = Path(directory)
        meta = json.loads((d / "meta.json").read_text())
        if meta.get("format") != _FORMAT:
            raise DataError(f"unsupported index format {meta.get('format')!r}", path=str(d / "meta.json"))
        saved = from_dict(BM25Config, meta["config"], "retrieval")
        if cfg is not None and _tie_rule(cfg) != _tie_rule(saved):
            msg = f"the index was built for ties {_tie_rule(saved)}, not {_tie_rule(cfg)}: rebuild"
            raise DataError(msg, path=str(d / "meta.json"))
        arrays = {a: np.load(d / f"{a}.npy", mmap_mode="r" if mmap else None) for a in _ARRAYS}
        return cls(arrays, cfg if cfg is not None else saved)


def make_retriever(
    kind: Literal["engine", "oracle"],
    keys: np.ndarray,
    row_ids: np.ndarray,
    users: np.ndarray,
    ts: np.ndarray,
    cfg: BM25Config,
) -> BM25Index | OracleBM25:
    """Build the engine (``"engine"``) or the rank-bm25 oracle (``"oracle"``, tests only: slow)."""
    if kind == "engine":
        return BM25Index.build(keys, row_ids, users, ts, cfg)
    if kind == "oracle":
        from liftrec.recsys.retrieval.oracle import OracleBM25

        return OracleBM25.build(keys, row_ids, users, ts, cfg)
    raise ValueError(f"unknown retriever kind {kind!r}; expected 'engine' or 'oracle'")
