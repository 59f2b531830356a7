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

``keep_fraction`` < 1 keeps a random share of the train / valid / test positives (RIM keeps 10 %
for CTR) with their negatives, for either task; dropped positives leave the table entirely.

The output is sorted by (user, ts, group), rows of a group in random (seeded) order: a fixed
"positive first" order would reveal labels by position to the sequence models. ``row_id`` is reassigned to the position and ``group_id`` is the row_id of the positive a
row belongs to (its candidate group of 1 + 100 for top-N).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from liftrec.recsys.config import check
from liftrec.recsys.errors import DataError
from liftrec.recsys.schema import GROUP_ID, LABEL, PERIOD, RETRIEVAL, ROW_ID, TS, USER_ID, Schema

logger = logging.getLogger(__name__)

_OWN_ROUNDS = 5
_UNIFORM_ROUNDS = 10


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
        keep_fraction: share of train / valid / test positives kept (with their negatives).
    """

    task: Literal["ctr", "topn"] = "ctr"
    ctr_per_positive: int = 1
    ctr_own_history_prob: float = 0.5
    topn_per_positive: int = 100
    topn_own_history_prob: float = 0.1
    retrieval_per_positive: int = 1
    keep_fraction: float = 1.0

    def __post_init__(self) -> None:
        check(self.task in ("ctr", "topn"), "task", f"must be ctr or topn, got {self.task!r}")
        check(self.ctr_per_positive >= 1, "ctr_per_positive", f"must be >= 1, got {self.ctr_per_positive}")
        check(self.topn_per_positive >= 1, "topn_per_positive", f"must be >= 1, got {self.topn_per_positive}")
        check(self.retrieval_per_positive >= 0, "retrieval_per_positive", "must be >= 0")
        for name in ("ctr_own_history_prob", "topn_own_history_prob"):
            check(0.0 <= getattr(self, name) <= 1.0, name, f"must be in [0, 1], got {getattr(self, name)}")
        check(
            0.0 < self.keep_fraction <= 1.0, "keep_fraction", f"must be in (0, 1], got {self.keep_fraction}"
        )

    @property
    def per_positive(self) -> int:
        return self.ctr_per_positive if self.task == "ctr" else self.topn_per_positive

    @property
    def own_history_prob(self) -> float:
        return self.ctr_own_history_prob if self.task == "ctr" else self.topn_own_history_prob


def item_tuples(df: pd.DataFrame, item_fields: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Factorise the item-side fields into tuple ids.

    Args:
        df: a table holding the ``item_fields`` columns.
        item_fields: the item-side field names.

    Returns:
        ``(tuple_id, tuples)``: per row the id of its item tuple, and the (m, len(item_fields)) int64
        table of distinct tuples in order of first appearance.
    """
    key = np.zeros(len(df), dtype=np.int64)
    for f in item_fields:
        codes, uniques = pd.factorize(df[f].to_numpy())
        # Re-factorise after every field so the mixed-radix key stays below n_rows**2 (no overflow).
        key, _ = pd.factorize(key * len(uniques) + codes)
    # factorize numbers tuples in order of first appearance: a first appearance raises the running max.
    top = np.maximum.accumulate(key)
    first = np.flatnonzero(np.concatenate([[True], top[1:] > top[:-1]])) if len(key) else key
    tuples = np.stack([df[f].to_numpy(dtype=np.int64)[first] for f in item_fields], axis=1)
    return key.astype(np.int64), tuples


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


def sample_negatives(df: pd.DataFrame, schema: Schema, cfg: NegativeConfig, seed: int) -> pd.DataFrame:
    """Build the canonical ``rows`` table: every positive followed by its sampled negatives.

    Args:
        df: positives with ``period`` (output of :func:`split_by_time`), sorted by (user, ts).
        schema: the dataset schema (``item_fields`` are replaced as a tuple).
        cfg: negative sampling parameters.
        seed: seed of every draw.

    Returns:
        The rows table: row_id (= position), user_id, ts, label (int8, 0 for negatives), period,
        group_id, then the remaining input columns, sorted by (user, ts, group), shuffled within a group.

    Raises:
        DataError: when a required column is missing or the input holds non-positive labels.
    """
    df = _validate(df, schema)
    if len(df) == 0:
        raise DataError("negatives: the input table is empty")
    rng = np.random.default_rng(seed)
    tuple_id, tuples = item_tuples(df, schema.item_fields)
    item_col = schema.item_fields.index(schema.item_field)
    m = len(tuples)

    period = df[PERIOD].to_numpy(dtype=np.int8)
    keep = np.arange(len(df))
    if cfg.keep_fraction < 1.0:
        keep = np.flatnonzero((period == RETRIEVAL) | (rng.random(len(df)) < cfg.keep_fraction))
        period = period[keep]
    user = df[USER_ID].to_numpy(dtype=np.int64)[keep]
    pos_tuple = tuple_id[keep]
    pos_item = tuples[pos_tuple, item_col]
    n = len(keep)

    retrieval = period == RETRIEVAL
    k = np.where(retrieval, cfg.retrieval_per_positive, cfg.per_positive).astype(np.int64)
    p_own = np.where(retrieval, 0.0, cfg.own_history_prob)
    owner = np.repeat(np.arange(n), k)  # positive index of every negative

    # Own history: the user's retrieval positives are a contiguous, user-sorted run of ``hist``.
    hist = np.flatnonzero(retrieval)
    lo = np.searchsorted(user[hist], user[owner], side="left")
    cnt = np.searchsorted(user[hist], user[owner], side="right") - lo
    own = (rng.random(len(owner)) < p_own[owner]) & (cnt > 0)

    def draw(idx: np.ndarray, from_own: np.ndarray) -> np.ndarray:
        if m > 1:  # uniform over the other tuples: skip the positive's own tuple
            t = rng.integers(0, m - 1, size=len(idx))
            t += t >= pos_tuple[owner[idx]]
        else:
            t = np.zeros(len(idx), dtype=np.int64)
        o = idx[from_own]
        t[from_own] = pos_tuple[hist[lo[o] + (rng.random(len(o)) * cnt[o]).astype(np.int64)]]
        return t

    neg = draw(np.arange(len(owner)), own)
    for r in range(_OWN_ROUNDS + _UNIFORM_ROUNDS):
        bad = np.flatnonzero(tuples[neg, item_col] == pos_item[owner])
        if len(bad) == 0:
            break
        if r == _OWN_ROUNDS:
            own[bad] = False  # own history holds nothing else often enough: go uniform
        neg[bad] = draw(bad, own[bad])
    left = int((tuples[neg, item_col] == pos_item[owner]).sum())
    if left:
        logger.warning(
            "negatives: %d negatives still show their positive's item (too few distinct items)", left
        )

    counts = 1 + k
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    src = np.repeat(np.arange(n), counts)  # positive index of every output row
    is_pos = np.arange(len(src)) == start[src]
    # Shuffle rows within each group: a fixed "positive first" order would leak labels to any
    # sequence model through position alone (pretraining reached a masked AUC of 1.0 that way).
    perm = np.lexsort((rng.random(len(src)), src))
    src, is_pos = src[perm], is_pos[perm]
    pos_at = np.empty(n, np.int64)
    pos_at[src[is_pos]] = np.flatnonzero(is_pos)
    take = keep[src]  # input row of every output row
    out: dict[str, np.ndarray] = {
        ROW_ID: np.arange(len(src), dtype=np.int64),
        USER_ID: user[src],
        TS: df[TS].to_numpy(dtype=np.int64)[take],
        LABEL: is_pos.astype(np.int8),
        PERIOD: period[src],
        GROUP_ID: pos_at[src],
    }
    for c in df.columns:
        if c in out:
            continue
        col = df[c].to_numpy()[take]
        if c in schema.item_fields:
            col[~is_pos] = tuples[neg, schema.item_fields.index(c)]
        out[c] = col
    logger.info("negatives (%s): %d positives -> %d rows", cfg.task, n, len(src))
    return pd.DataFrame(out, copy=False)  # no block consolidation (a full copy at 100 M rows)
