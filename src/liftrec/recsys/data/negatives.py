"""Negative sampling into the canonical ``rows`` table (PROTOCOL.md, "Labels and negatives").

Every raw interaction is a positive. A negative copies its positive row (user, ts, period, context
fields) and replaces the item-side fields, as one tuple (item with its category, seller...), by the
tuple of another observed interaction:

* train / valid / test positives get ``ctr_per_positive`` (task "ctr") or ``topn_per_positive``
  (task "topn") negatives; each is drawn with the own-history probability from the user's own
  retrieval-period positives (uniform over those rows, so often-visited items come up more often;
  users without retrieval history fall back to uniform), otherwise uniformly from the distinct item
  tuples of the whole table;
* retrieval-period positives get ``retrieval_per_positive`` uniform negatives, so pretraining
  sequences carry both labels.

A negative never shows the positive's own item. Uniform draws pick among the tuples other than the
positive's own (the same distribution as redrawing until different); own-history draws that hit the
positive's item are redrawn, vectorised, up to ``_OWN_ROUNDS`` rounds, then drawn uniformly (a user
whose history is that one item cannot do better). Remaining collisions (another tuple with the same
item, i.e. an item listed under two categories) get up to ``_UNIFORM_ROUNDS`` more rounds; what is
left after that (only when almost every tuple holds that item) is logged and kept.

``ctr_target_fraction`` / ``topn_target_fraction`` (by task) < 1 scores a random share of the
train / valid / test candidate groups (RIM keeps 10 % for CTR): the other groups' negatives are left
out, but their positives stay in the table (``scored`` = 0), so histories and futures keep every real
interaction. The fraction only thins what is scored: the groups are chosen by a random stream of
their own, and every other draw is the one of a fraction of 1, so the retrieval period's rows
(pretraining data, datastore keys) and the scored groups' negatives do not depend on it.

The output is sorted by (user, ts, group), rows of a group in random (seeded) order: a fixed
"positive first" order would reveal labels by position to the sequence models. ``row_id`` is
reassigned to the position, ``group_id`` is the row_id of the positive a row belongs to (its
candidate group of 1 + 100 for top-N) and ``scored`` (int8) is 1 for the rows of scored groups.

Memory (Taobao's 100 M positives -> 200 M rows must fit 24 GB next to the input table): the output
columns are allocated once and filled per chunk of positives; per-row temporaries are int32 tuple
ids / owners and per-chunk slices, never int64 copies of the whole table. The random stream is the
one of a single whole-table pass: ``Generator.random`` draws (one 64-bit word per double) are taken
chunk by chunk in the same order, and each ``Generator.integers`` draw is one call, so the output
does not depend on ``chunk_rows``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from liftrec.recsys.config import check
from liftrec.recsys.errors import DataError
from liftrec.recsys.schema import GROUP_ID, LABEL, PERIOD, RETRIEVAL, ROW_ID, SCORED, TS, USER_ID, Schema

logger = logging.getLogger(__name__)

_OWN_ROUNDS = 5
_UNIFORM_ROUNDS = 10
_CHUNK_ROWS = 1 << 22  # positives (or negatives) per vectorised step: bounds the temporaries
_TARGET_STREAM = 1  # spawn key of the stream choosing the scored groups (independent of every other draw)


@dataclass(frozen=True)
class NegativeConfig:
    """How many negatives to draw and from where.

    Attributes:
        task: "ctr" or "topn"; picks which per-positive count and own-history probability apply
            to train / valid / test positives.
        ctr_per_positive: negatives per labelled positive for CTR.
        ctr_own_history_prob: probability that a CTR negative comes from the user's own history.
        topn_per_positive: negatives per labelled positive for top-N (its candidate group).
        topn_own_history_prob: probability that a top-N negative comes from the user's own history.
        retrieval_per_positive: uniform negatives per retrieval-period positive.
        ctr_target_fraction: share of train / valid / test candidate groups that are scored (their
            positive with its negatives) for CTR; the other positives stay in the table, unscored.
        topn_target_fraction: the same for top-N.
    """

    task: Literal["ctr", "topn"] = "ctr"
    ctr_per_positive: int = 1
    ctr_own_history_prob: float = 0.5
    topn_per_positive: int = 100
    topn_own_history_prob: float = 0.1
    retrieval_per_positive: int = 1
    ctr_target_fraction: float = 1.0
    topn_target_fraction: float = 1.0

    def __post_init__(self) -> None:
        check(self.task in ("ctr", "topn"), "task", f"must be ctr or topn, got {self.task!r}")
        check(self.ctr_per_positive >= 1, "ctr_per_positive", f"must be >= 1, got {self.ctr_per_positive}")
        check(self.topn_per_positive >= 1, "topn_per_positive", f"must be >= 1, got {self.topn_per_positive}")
        check(self.retrieval_per_positive >= 0, "retrieval_per_positive", "must be >= 0")
        for name in ("ctr_own_history_prob", "topn_own_history_prob"):
            check(0.0 <= getattr(self, name) <= 1.0, name, f"must be in [0, 1], got {getattr(self, name)}")
        for name in ("ctr_target_fraction", "topn_target_fraction"):
            check(0.0 < getattr(self, name) <= 1.0, name, f"must be in (0, 1], got {getattr(self, name)}")

    @property
    def per_positive(self) -> int:
        return self.ctr_per_positive if self.task == "ctr" else self.topn_per_positive

    @property
    def target_fraction(self) -> float:
        return self.ctr_target_fraction if self.task == "ctr" else self.topn_target_fraction

    @property
    def own_history_prob(self) -> float:
        return self.ctr_own_history_prob if self.task == "ctr" else self.topn_own_history_prob


def _index_dtype(n: int) -> type[np.signedinteger]:
    return np.int32 if n < np.iinfo(np.int32).max else np.int64


def _chunks(n: int, size: int) -> list[tuple[int, int]]:
    return [(a, min(n, a + size)) for a in range(0, n, size)]


def item_tuples(
    df: pd.DataFrame, item_fields: tuple[str, ...], chunk_rows: int = _CHUNK_ROWS
) -> tuple[np.ndarray, np.ndarray]:
    """Factorise the item-side fields into tuple ids.

    Args:
        df: a table holding the ``item_fields`` columns.
        item_fields: the item-side field names.
        chunk_rows: rows per step of the first-appearance scan (memory only; same result).

    Returns:
        ``(tuple_id, tuples)``: per row the id of its item tuple, and the (m, len(item_fields)) int64
        table of distinct tuples in order of first appearance.
    """
    key = np.zeros(len(df), dtype=np.int64)
    for i, f in enumerate(item_fields):
        codes, uniques = pd.factorize(df[f].to_numpy())
        if i == 0 and (len(codes) == 0 or codes.min() >= 0):
            key = codes  # already numbered in order of first appearance: refactorising is the identity
            continue
        # Re-factorise after every field so the mixed-radix key stays below n_rows**2 (no overflow).
        key *= len(uniques)
        key += codes
        del codes
        key, _ = pd.factorize(key)
    # factorize numbers tuples in order of first appearance: a first appearance raises the running max.
    first, top = [], -1
    for a, b in _chunks(len(key), chunk_rows):
        run = np.maximum.accumulate(key[a:b])
        np.maximum(run, top, out=run)
        prev = np.concatenate([[top], run[:-1]])
        first.append(np.flatnonzero(run > prev) + a)
        top = int(run[-1])
    at = np.concatenate(first) if first else np.zeros(0, np.int64)
    tuples = np.stack([df[f].to_numpy()[at].astype(np.int64) for f in item_fields], axis=1)
    return key.astype(np.int64, copy=False), tuples.reshape(len(at), len(item_fields))


def _validate(df: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    missing = [c for c in (USER_ID, TS, PERIOD, *schema.item_fields) if c not in df.columns]
    if missing:
        raise DataError(f"negatives: missing columns {missing}; run the split first", column=missing[0])
    if schema.item_field not in schema.item_fields:
        raise DataError(f"negatives: schema.item_field {schema.item_field!r} is not in item_fields")
    if LABEL in df.columns and len(df) and (df[LABEL].to_numpy() != 1).any():
        raise DataError("negatives: the input must hold positives only (label 1)", column=LABEL)
    u, t = df[USER_ID].to_numpy(), df[TS].to_numpy()
    if len(df) > 1 and not ((u[1:] > u[:-1]) | ((u[1:] == u[:-1]) & (t[1:] >= t[:-1]))).all():
        logger.info("negatives: input not sorted by (user, ts); sorting")
        df = df.iloc[np.lexsort((t, u))]
    return df


def sample_negatives(
    df: pd.DataFrame, schema: Schema, cfg: NegativeConfig, seed: int, *, chunk_rows: int = _CHUNK_ROWS
) -> pd.DataFrame:
    """Build the canonical ``rows`` table: every positive followed by its sampled negatives.

    Args:
        df: positives with ``period`` (output of :func:`split_by_time`), sorted by (user, ts).
        schema: the dataset schema (``item_fields`` are replaced as a tuple).
        cfg: negative sampling parameters.
        seed: seed of every draw.
        chunk_rows: positives (or negatives) per vectorised step; bounds the temporary memory and
            never changes the result.

    Returns:
        The rows table: row_id (= position), user_id, ts, label (int8, 0 for negatives), period,
        group_id, then the remaining input columns, sorted by (user, ts, group), shuffled within a group.

    Raises:
        DataError: when a required column is missing or the input holds non-positive labels.
    """
    df = _validate(df, schema)
    if len(df) == 0:
        raise DataError("negatives: the input table is empty")
    chunk_rows = max(1, int(chunk_rows))
    rng = np.random.default_rng(seed)
    tuple_id, tuples = item_tuples(df, schema.item_fields, chunk_rows)
    t_item = np.ascontiguousarray(tuples[:, schema.item_fields.index(schema.item_field)])
    m = len(tuples)
    tuple_id = tuple_id.astype(_index_dtype(m))

    period = df[PERIOD].to_numpy(dtype=np.int8)
    kept = _scored_groups(period, cfg.target_fraction, seed, chunk_rows)
    user = df[USER_ID].to_numpy(dtype=np.int64)
    pos_tuple = tuple_id
    del tuple_id
    n = len(period)
    idx_t = _index_dtype(n)

    retrieval = period == RETRIEVAL
    k = np.full(n, cfg.per_positive, dtype=np.int32)
    k[retrieval] = cfg.retrieval_per_positive
    owner = np.repeat(np.arange(n, dtype=idx_t), k)  # positive index of every negative
    n_neg = len(owner)

    # Own history: the user's retrieval positives are a contiguous, user-sorted run of the retrieval
    # positives; per user, its start (``u_lo``) and length (``u_cnt``) in that run.
    u_start = np.flatnonzero(np.concatenate([[True], user[1:] != user[:-1]]))
    u_cnt = np.add.reduceat(retrieval, u_start, dtype=np.int64)
    u_lo = np.cumsum(u_cnt) - u_cnt
    hist_tuple = pos_tuple[retrieval]  # tuple of every retrieval positive, in order

    def own_range(pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        u = np.searchsorted(u_start, pos, side="right") - 1
        return u_lo[u], u_cnt[u]

    own = np.empty(n_neg, dtype=bool)
    for a, b in _chunks(n_neg, chunk_rows):
        o = owner[a:b]
        p_own = np.where(retrieval[o], 0.0, cfg.own_history_prob)
        own[a:b] = (rng.random(b - a) < p_own) & (own_range(o)[1] > 0)

    def draw(idx: np.ndarray | None, from_own: np.ndarray) -> np.ndarray:
        """Tuples for the negatives ``idx`` (None: all), from own history where ``from_own``."""
        size = n_neg if idx is None else len(idx)
        if m > 1:  # uniform over the other tuples: skip the positive's own tuple
            t = rng.integers(0, m - 1, size=size)  # one call: the stream must not depend on chunks
            for a, b in _chunks(size, chunk_rows):
                o = owner[a:b] if idx is None else owner[idx[a:b]]
                t[a:b] += t[a:b] >= pos_tuple[o]
        else:
            t = np.zeros(size, dtype=np.int64)
        sel = np.flatnonzero(from_own)
        for a, b in _chunks(len(sel), chunk_rows):
            s = sel[a:b]
            lo, cnt = own_range(owner[s] if idx is None else owner[idx[s]])
            t[s] = hist_tuple[lo + (rng.random(b - a) * cnt).astype(np.int64)]
        return t

    def collisions(among: np.ndarray | None) -> np.ndarray:
        """Negatives (all, or those in ``among``) that show their positive's item."""
        if among is not None:
            return among[t_item[neg[among]] == t_item[pos_tuple[owner[among]]]]
        hits = [
            np.flatnonzero(t_item[neg[a:b]] == t_item[pos_tuple[owner[a:b]]]) + a
            for a, b in _chunks(n_neg, chunk_rows)
        ]
        return np.concatenate(hits) if hits else np.zeros(0, dtype=np.int64)

    neg = draw(None, own).astype(_index_dtype(m))
    bad = collisions(None)  # later rounds only recheck what they redrew: nothing else changes
    for r in range(_OWN_ROUNDS + _UNIFORM_ROUNDS):
        if len(bad) == 0:
            break
        if r == _OWN_ROUNDS:
            own[bad] = False  # own history holds nothing else often enough: go uniform
        neg[bad] = draw(bad, own[bad])
        bad = collisions(bad)
    left = len(bad)
    if left:
        logger.warning(
            "negatives: %d negatives still show their positive's item (too few distinct items)", left
        )
    # Free the big arrays before assembling. The closures above read owner, hist_tuple and pos_tuple:
    # those are rebound, not deleted, as ruff reports a del'd closure variable as undefined (F821).
    del own, retrieval
    owner = hist_tuple = pos_tuple = None
    out = _assemble(df, schema, tuples, neg, k, period, user, kept, rng, chunk_rows)
    logger.info(
        "negatives (%s): %d positives -> %d rows, %d scored",
        cfg.task, n, len(out), int(np.count_nonzero(out[SCORED].to_numpy())),
    )  # fmt: skip
    return out


def _scored_groups(period: np.ndarray, fraction: float, seed: int, chunk_rows: int) -> np.ndarray | None:
    """Per positive, whether its group is kept (every retrieval group is); None when all are.

    The draws come from a stream of their own, so the choice changes no other draw.
    """
    if fraction >= 1.0:
        return None
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_TARGET_STREAM,)))
    kept = period == RETRIEVAL
    for a, b in _chunks(len(period), chunk_rows):
        kept[a:b] |= rng.random(b - a) < fraction
    return kept


def _assemble(
    df: pd.DataFrame,
    schema: Schema,
    tuples: np.ndarray,
    neg: np.ndarray,
    k: np.ndarray,
    period: np.ndarray,
    user: np.ndarray,
    kept: np.ndarray | None,
    rng: np.random.Generator,
    chunk_rows: int,
) -> pd.DataFrame:
    """Write the output columns chunk of positives by chunk, each group shuffled.

    Every group lies inside one chunk and the shuffle keys are drawn chunk after chunk, so each chunk
    is ordered exactly as its slice of one whole-table ``lexsort((random, group))`` would be. Groups
    not ``kept`` are shuffled like the others (the stream stays that of keeping them all), then only
    their positive is written, unscored.
    """
    n = len(k)
    total = n + int(k.sum(dtype=np.int64) if kept is None else k[kept].sum(dtype=np.int64))
    ts = df[TS].to_numpy(dtype=np.int64)
    out: dict[str, np.ndarray] = {
        ROW_ID: np.arange(total, dtype=np.int64),
        USER_ID: np.empty(total, dtype=np.int64),
        TS: np.empty(total, dtype=np.int64),
        LABEL: np.empty(total, dtype=np.int8),
        PERIOD: np.empty(total, dtype=np.int8),
        GROUP_ID: np.empty(total, dtype=np.int64),
        SCORED: np.empty(total, dtype=np.int8),
    }
    src_cols = {c: df[c].to_numpy() for c in df.columns if c not in out}
    # The user field usually holds the user_id codes: share one array instead of a second copy.
    share = schema.user_field if schema.user_field not in schema.item_fields else None
    if share in src_cols and src_cols[share].dtype == np.int64:
        if not np.array_equal(src_cols[share], df[USER_ID].to_numpy()):
            share = None
    else:
        share = None
    for c, col in src_cols.items():
        if c != share:
            out[c] = np.empty(total, dtype=col.dtype)
    item_at = {c: schema.item_fields.index(c) for c in src_cols if c in schema.item_fields}

    row0 = neg0 = 0
    for a, b in _chunks(n, chunk_rows):
        counts = 1 + k[a:b].astype(np.int64)
        size = int(counts.sum())
        starts = np.cumsum(counts) - counts  # first row of every group in the chunk
        # Shuffle rows within each group: a fixed "positive first" order would leak labels to any
        # sequence model through position alone (pretraining reached a masked AUC of 1.0 that way).
        # A group's rows are ordered by a uniform key, stably (= np.lexsort((key, group))); as every
        # row of a group carries the same values but the item tuple, which is dealt to the negatives
        # in row order, only the positive's rank matters: the number of keys below its own.
        key = rng.random(size)
        below = key < np.repeat(key[starts], counts)
        pos_at = starts + np.add.reduceat(below, starts, dtype=np.int64)
        is_pos = np.zeros(size, dtype=bool)
        is_pos[pos_at] = True
        src = np.repeat(np.arange(a, b, dtype=np.int64), counts)  # positive index of every row
        neg_c = neg[neg0 : neg0 + size - (b - a)]  # negatives are dealt to the rows in row order
        neg0 += size - (b - a)
        if kept is not None:  # write kept groups whole and the positive alone of the others
            emit = kept[src] | is_pos
            neg_c = neg_c[emit[~is_pos]]
            group_row = row0 + (np.cumsum(emit) - 1)[pos_at]  # output row of every positive
            src, is_pos = src[emit], is_pos[emit]
        else:
            group_row = row0 + pos_at
        rows = slice(row0, row0 + len(src))
        # np.take(..., out=) gathers straight into the output (no temporary); indices are in range.
        np.take(user, src, out=out[USER_ID][rows], mode="clip")
        np.take(period, src, out=out[PERIOD][rows], mode="clip")
        np.take(ts, src, out=out[TS][rows], mode="clip")
        out[LABEL][rows] = is_pos
        np.take(group_row, src - a, out=out[GROUP_ID][rows], mode="clip")
        scored = out[PERIOD][rows] != RETRIEVAL
        if kept is not None:
            scored &= kept[src]
        out[SCORED][rows] = scored
        is_neg = ~is_pos
        for c, col in src_cols.items():
            if c == share:
                continue
            dst = out[c][rows]
            np.take(col, src, out=dst, mode="clip")
            if c in item_at:
                dst[is_neg] = tuples[neg_c, item_at[c]]
        row0 += len(src)
    if share is not None:
        out[share] = out[USER_ID]
    out = {c: out[c] for c in [ROW_ID, USER_ID, TS, LABEL, PERIOD, GROUP_ID, SCORED, *src_cols]}
    return pd.DataFrame(out, copy=False)  # no block consolidation (a full copy at 100 M rows)
