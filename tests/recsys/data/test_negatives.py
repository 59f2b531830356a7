"""Negative sampling (PROTOCOL.md "Labels and negatives"): counts, tuples, groups, sources, seeds."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liftrec.recsys.config import from_dict
from liftrec.recsys.data.negatives import NegativeConfig, item_tuples, sample_negatives
from liftrec.recsys.errors import ConfigError, DataError
from liftrec.recsys.schema import (
    GROUP_ID,
    LABEL,
    PERIOD,
    RETRIEVAL,
    ROW_ID,
    SCORED,
    TEST,
    TRAIN,
    TS,
    USER_ID,
    Schema,
)

SCHEMA = Schema(
    dataset="tiny",
    fields=("user", "item", "category", "behavior"),
    cardinalities=(10, 100, 10, 5),
    user_fields=("user",),
    item_fields=("item", "category"),
    context_fields=("behavior",),
)
ITEM_CAT = {i: 1 + i % 7 for i in range(1, 100)}  # every item has one category


def positives(users: np.ndarray, ts: np.ndarray, items: np.ndarray, period: np.ndarray) -> pd.DataFrame:
    """A positives table in the contract's layout, sorted by (user, ts)."""
    df = pd.DataFrame(
        {
            USER_ID: users.astype(np.int64),
            TS: ts.astype(np.int64),
            LABEL: np.ones(len(users), dtype=np.int8),
            PERIOD: period.astype(np.int8),
            "user": users.astype(np.int64),
            "item": items.astype(np.int64),
            "category": np.array([ITEM_CAT[i] for i in items], dtype=np.int64),
            "behavior": 1 + (ts % 4).astype(np.int64),
        }
    )
    df = df.sort_values([USER_ID, TS], kind="stable").reset_index(drop=True)
    df.insert(0, ROW_ID, np.arange(len(df), dtype=np.int64))
    return df


def tiny() -> pd.DataFrame:
    users = np.array([1, 1, 1, 1, 2, 2, 2, 3])
    ts = np.array([1, 2, 5, 8, 1, 6, 9, 7])
    items = np.array([10, 11, 12, 13, 20, 21, 22, 30])
    period = np.array([RETRIEVAL, RETRIEVAL, TRAIN, TEST, RETRIEVAL, TRAIN, TEST, TRAIN])
    return positives(users, ts, items, period)


def big(seed: int = 0, n_users: int = 200, per_user: int = 40, n_items: int = 99) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(1, n_users + 1), per_user)
    ts = rng.integers(0, 1000, size=len(users))
    items = rng.integers(1, n_items + 1, size=len(users))
    period = np.searchsorted([600, 800, 900], ts, side="right")
    return positives(users, ts, items, period)


def check_rows(rows: pd.DataFrame, pos: pd.DataFrame, k_labelled: int, k_retrieval: int) -> None:
    """Invariants every rows table satisfies."""
    assert list(rows.columns[:6]) == [ROW_ID, USER_ID, TS, LABEL, PERIOD, GROUP_ID]
    assert rows[LABEL].dtype == np.int8 and rows[PERIOD].dtype == np.int8
    np.testing.assert_array_equal(rows[ROW_ID], np.arange(len(rows)))
    # Sorted by (user, ts, group): each group's rows contiguous, in random order within the group.
    keys = rows[[USER_ID, TS, GROUP_ID]].to_numpy()
    assert (np.diff(keys[:, 0]) >= 0).all()
    assert np.array_equal(np.lexsort((keys[:, 2], keys[:, 1], keys[:, 0])), np.arange(len(rows)))
    is_pos = rows[LABEL].to_numpy() == 1
    np.testing.assert_array_equal(rows[GROUP_ID][is_pos], rows[ROW_ID][is_pos])
    gp = rows.set_index(ROW_ID).loc[rows[GROUP_ID]]
    for c in (USER_ID, TS, PERIOD, "user", "behavior"):  # negatives copy the positive's context
        np.testing.assert_array_equal(gp[c].to_numpy(), rows[c].to_numpy())
    # Positives untouched, in order.
    cols = [c for c in pos.columns if c != ROW_ID]
    pd.testing.assert_frame_equal(
        rows.loc[is_pos, cols].reset_index(drop=True), pos[cols].reset_index(drop=True)
    )
    # Counts per positive per period.
    size = rows.groupby(GROUP_ID).size()
    per = rows.loc[is_pos].set_index(ROW_ID)[PERIOD]
    expected = np.where(per.loc[size.index] == RETRIEVAL, 1 + k_retrieval, 1 + k_labelled)
    np.testing.assert_array_equal(size.to_numpy(), expected)
    # Item-side fields of negatives form a tuple that exists in the data.
    existing = set(map(tuple, pos[["item", "category"]].to_numpy()))
    assert set(map(tuple, rows.loc[~is_pos, ["item", "category"]].to_numpy())) <= existing


def test_tiny_ctr_hand_checked() -> None:
    pos = tiny()
    rows = sample_negatives(pos, SCHEMA, NegativeConfig(), seed=0)
    assert len(rows) == 16 and rows[LABEL].to_numpy().reshape(8, 2).sum(axis=1).tolist() == [1] * 8
    first = rows[LABEL].to_numpy().reshape(8, 2)[:, 0] == 1  # where each pair's positive sits
    assert rows[GROUP_ID].tolist() == [2 * g + (0 if f else 1) for g, f in enumerate(first) for _ in (0, 1)]
    check_rows(rows, pos, 1, 1)
    neg, item = rows[rows[LABEL] == 0], rows.set_index(ROW_ID)["item"]
    assert (neg["item"].to_numpy() != item.loc[neg[GROUP_ID]].to_numpy()).all()


def test_topn_groups_of_101() -> None:
    pos = big(n_users=20, per_user=10)
    rows = sample_negatives(pos, SCHEMA, NegativeConfig(task="topn"), seed=1)
    check_rows(rows, pos, 100, 1)
    labelled = rows[rows[PERIOD] != RETRIEVAL]
    assert (labelled.groupby(GROUP_ID).size() == 101).all()


def test_negative_never_shows_the_positive_item() -> None:
    pos = big(n_items=3)  # collisions are frequent with three items
    rows = sample_negatives(pos, SCHEMA, NegativeConfig(task="topn", topn_per_positive=20), seed=2)
    grp_item = rows.set_index(ROW_ID).loc[rows[GROUP_ID], "item"].to_numpy()
    neg = rows[LABEL].to_numpy() == 0
    assert (rows["item"].to_numpy()[neg] != grp_item[neg]).all()


@pytest.mark.parametrize(("task", "p"), [("ctr", 0.5), ("topn", 0.1), ("ctr", 0.0), ("ctr", 1.0)])
def test_own_history_share(task: str, p: float) -> None:
    pos = big(n_items=99)
    cfg = NegativeConfig(task=task, ctr_own_history_prob=p, topn_own_history_prob=p, topn_per_positive=20)
    rows = sample_negatives(pos, SCHEMA, cfg, seed=3)
    hist = pos[pos[PERIOD] == RETRIEVAL].groupby(USER_ID)["item"].agg(set)
    neg = rows[(rows[LABEL] == 0) & (rows[PERIOD] != RETRIEVAL)]
    in_hist = np.array([i in hist.get(u, set()) for u, i in zip(neg[USER_ID], neg["item"], strict=True)])
    # Uniform draws land in the history by chance: share = p + (1 - p) * |history tuples| / |tuples|.
    m = len(pos[["item", "category"]].drop_duplicates())
    chance = np.array([len(hist.get(u, ())) / m for u in neg[USER_ID]]).mean()
    assert abs(in_hist.mean() - (p + (1 - p) * chance)) < 0.03


def test_retrieval_negatives_are_uniform() -> None:
    pos = big(n_items=99)
    rows = sample_negatives(pos, SCHEMA, NegativeConfig(ctr_own_history_prob=1.0), seed=4)
    neg = rows[(rows[LABEL] == 0) & (rows[PERIOD] == RETRIEVAL)]
    hist = pos[pos[PERIOD] == RETRIEVAL].groupby(USER_ID)["item"].agg(set)
    in_hist = np.mean([i in hist[u] for u, i in zip(neg[USER_ID], neg["item"], strict=True)])
    assert in_hist < 0.4  # ~ |history| / 99 ~ 0.21, far from own-history sampling (~1.0)


def test_user_without_history_falls_back_to_uniform() -> None:
    pos = tiny()  # user 3 has no retrieval rows
    rows = sample_negatives(pos, SCHEMA, NegativeConfig(ctr_own_history_prob=1.0, ctr_per_positive=5), seed=5)
    u3 = rows[(rows[USER_ID] == 3) & (rows[LABEL] == 0)]
    assert len(u3) == 5 and (u3["item"] != 30).all()
    # Users 1 and 2 draw from their own retrieval items only (10, 11 / 20), minus the positive's item.
    u1 = rows[(rows[USER_ID] == 1) & (rows[LABEL] == 0) & (rows[PERIOD] != RETRIEVAL)]
    assert set(u1["item"]) <= {10, 11}
    u2 = rows[(rows[USER_ID] == 2) & (rows[LABEL] == 0) & (rows[PERIOD] != RETRIEVAL)]
    assert set(u2["item"]) == {20}


def test_determinism_by_seed() -> None:
    pos = big()
    a = sample_negatives(pos, SCHEMA, NegativeConfig(), seed=7)
    pd.testing.assert_frame_equal(a, sample_negatives(pos, SCHEMA, NegativeConfig(), seed=7))
    assert not a.equals(sample_negatives(pos, SCHEMA, NegativeConfig(), seed=8))


def emitted(full: pd.DataFrame, thin: pd.DataFrame) -> np.ndarray:
    """Row ids of ``full`` (target_fraction 1) that ``thin`` holds, in order: every retrieval row, every
    positive, and the negatives of the groups ``thin`` scores (positives correspond one to one)."""
    pos_full = full[LABEL].to_numpy() == 1
    kept_pos = np.zeros(len(full), dtype=bool)
    thin_pos = thin[thin[LABEL] == 1]
    kept_pos[np.flatnonzero(pos_full)] = (thin_pos[PERIOD] == RETRIEVAL).to_numpy() | (
        thin_pos[SCORED] == 1
    ).to_numpy()
    keep = kept_pos[full[GROUP_ID].to_numpy()] | pos_full
    return np.flatnonzero(keep)


CONTENT = [USER_ID, TS, LABEL, PERIOD, "user", "item", "category", "behavior"]


@pytest.mark.parametrize("task", ["ctr", "topn"])
def test_target_fraction_thins_the_scored_groups_only(task: str) -> None:
    """Every positive stays; the kept groups are whole; every row is the one of target_fraction 1."""
    pos = big()
    cfg = NegativeConfig(task=task, topn_per_positive=5)
    full = sample_negatives(pos, SCHEMA, cfg, seed=9)
    thin = sample_negatives(
        pos, SCHEMA, NegativeConfig(task=task, topn_per_positive=5, **{f"{task}_target_fraction": 0.25}), 9
    )
    later = pos[PERIOD] != RETRIEVAL
    assert (thin[LABEL] == 1).sum() == len(pos)  # no interaction leaves the table
    scored = thin[thin[SCORED] == 1]
    assert (scored[PERIOD] != RETRIEVAL).all()
    n_groups = scored[GROUP_ID].nunique()
    assert abs(n_groups / later.sum() - 0.25) < 0.05
    assert (scored.groupby(GROUP_ID).size() == 1 + cfg.per_positive).all()  # scored groups are whole
    unscored = thin[(thin[SCORED] == 0) & (thin[PERIOD] != RETRIEVAL)]
    assert (unscored[LABEL] == 1).all() and (unscored[GROUP_ID] == unscored[ROW_ID]).all()
    # Row for row, the thin table is the full one without the dropped negatives: the retrieval
    # period (pretraining data, datastore keys) and the scored groups' negatives are the same draws.
    same = full.iloc[emitted(full, thin)].reset_index(drop=True)
    pd.testing.assert_frame_equal(same[CONTENT], thin[CONTENT])
    assert (full[SCORED] == (full[PERIOD] != RETRIEVAL)).all()


def test_target_fraction_one_is_the_unthinned_table() -> None:
    pos = big()
    a = sample_negatives(pos, SCHEMA, NegativeConfig(), seed=9)
    b = sample_negatives(pos, SCHEMA, NegativeConfig(ctr_target_fraction=1.0), seed=9)
    pd.testing.assert_frame_equal(a, b)


def test_unsorted_input_is_sorted() -> None:
    pos = tiny()
    shuffled = pos.sample(frac=1.0, random_state=0)
    rows = sample_negatives(shuffled, SCHEMA, NegativeConfig(), seed=0)
    check_rows(rows, pos, 1, 1)


def test_item_tuples() -> None:
    df = pd.DataFrame({"item": [5, 6, 5, 7, 6], "category": [1, 2, 1, 1, 2]})
    tid, tuples = item_tuples(df, ("item", "category"))
    np.testing.assert_array_equal(tuples[tid], df.to_numpy())
    assert len(tuples) == 3


def test_input_errors() -> None:
    pos = tiny()
    with pytest.raises(DataError, match="missing columns"):
        sample_negatives(pos.drop(columns=PERIOD), SCHEMA, NegativeConfig(), 0)
    bad = pos.copy()
    bad.loc[0, LABEL] = 0
    with pytest.raises(DataError, match="positives only"):
        sample_negatives(bad, SCHEMA, NegativeConfig(), 0)
    with pytest.raises(DataError, match="empty"):
        sample_negatives(pos.iloc[:0], SCHEMA, NegativeConfig(), 0)


@pytest.mark.parametrize(
    "params",
    [
        {"task": "rank"},
        {"ctr_per_positive": 0},
        {"topn_own_history_prob": 1.5},
        {"ctr_target_fraction": 0.0},
        {"topn_target_fraction": 1.1},
        {"retrieval_per_positive": -1},
        {"negatives": 3},
    ],
)
def test_config_validation(params: dict) -> None:
    with pytest.raises(ConfigError):
        from_dict(NegativeConfig, params, "negatives")


@settings(max_examples=60, deadline=None)
@given(
    data=st.lists(
        st.tuples(st.integers(1, 5), st.integers(0, 12), st.integers(1, 8)), min_size=1, max_size=50
    ),
    cut=st.integers(0, 12),
    task=st.sampled_from(["ctr", "topn"]),
    k=st.integers(1, 4),
    k_ret=st.integers(0, 2),
    seed=st.integers(0, 2**31),
)
def test_property_rows_invariants(data: list, cut: int, task: str, k: int, k_ret: int, seed: int) -> None:
    u, t, i = (np.array(x) for x in zip(*data, strict=True))
    pos = positives(u, t, i, np.where(t < cut, RETRIEVAL, TRAIN))
    cfg = NegativeConfig(task=task, ctr_per_positive=k, topn_per_positive=k, retrieval_per_positive=k_ret)
    rows = sample_negatives(pos, SCHEMA, cfg, seed)
    check_rows(rows, pos, k, k_ret)
    if pos["item"].nunique() > 1:
        grp_item = rows.set_index(ROW_ID).loc[rows[GROUP_ID], "item"].to_numpy()
        neg = rows[LABEL].to_numpy() == 0
        assert (rows["item"].to_numpy()[neg] != grp_item[neg]).all()


def test_single_item_keeps_collisions_and_warns(caplog: pytest.LogCaptureFixture) -> None:
    pos = positives(
        np.array([1, 1, 2]), np.array([1, 5, 2]), np.array([4, 4, 4]), np.array([RETRIEVAL, TEST, TEST])
    )
    with caplog.at_level("WARNING"):
        rows = sample_negatives(pos, SCHEMA, NegativeConfig(), seed=0)
    assert (rows["item"] == 4).all() and len(rows) == 6
    assert "still show their positive's item" in caplog.text


def test_positive_position_within_group_is_random() -> None:
    """A fixed "positive first" order would reveal labels to sequence models by position alone."""
    rng = np.random.default_rng(3)
    n = 400
    users = np.sort(rng.integers(1, 40, n))
    pos = positives(users, np.arange(n) * 10, rng.integers(1, 50, n), np.zeros(n, np.int8))
    rows = sample_negatives(pos, SCHEMA, NegativeConfig(), seed=1)
    first = rows[LABEL].to_numpy().reshape(-1, 2)[:, 0] == 1
    assert 0.35 < first.mean() < 0.65


def digest(frame: pd.DataFrame) -> str:
    """Fingerprint of a table's column names, dtypes and bytes."""
    h = hashlib.sha256()
    for c in frame.columns:
        h.update(c.encode())
        h.update(str(frame[c].dtype).encode())
        h.update(np.ascontiguousarray(frame[c].to_numpy()).tobytes())
    return h.hexdigest()[:16]


@pytest.mark.parametrize(
    ("cfg", "expected"),
    [
        (NegativeConfig(), "d2343599cb2b46f7"),
        (NegativeConfig(task="topn", topn_per_positive=20), "38abd8ce52b66079"),
    ],
)
def test_same_seed_same_rows_as_the_whole_table_implementation(cfg: NegativeConfig, expected: str) -> None:
    """Pinned outputs of the original single-pass implementation: chunking changed no draw (the
    ``scored`` column, added later, is left out of the pin)."""
    assert digest(sample_negatives(big(), SCHEMA, cfg, seed=7).drop(columns=SCORED)) == expected


@pytest.mark.parametrize(
    "cfg",
    [
        NegativeConfig(),
        NegativeConfig(task="topn", topn_per_positive=7, retrieval_per_positive=2),
        NegativeConfig(ctr_target_fraction=0.3, ctr_own_history_prob=1.0, ctr_per_positive=3),
        NegativeConfig(retrieval_per_positive=0),
    ],
)
@pytest.mark.parametrize("chunk_rows", [1, 3, 64])
def test_chunk_size_does_not_change_the_rows(cfg: NegativeConfig, chunk_rows: int) -> None:
    pos = big(seed=4, n_users=30, per_user=12, n_items=5)  # few items: collision rounds run
    whole = sample_negatives(pos, SCHEMA, cfg, seed=3)
    pd.testing.assert_frame_equal(sample_negatives(pos, SCHEMA, cfg, seed=3, chunk_rows=chunk_rows), whole)


def test_user_field_other_than_user_id_is_copied_not_shared() -> None:
    """The output shares the user_id array with the user field only when the input columns agree."""
    pos = big(n_users=20, per_user=10)
    pos["user"] = pos["user"] * 3 + 1
    rows = sample_negatives(pos, SCHEMA, NegativeConfig(), seed=0, chunk_rows=16)
    check_rows(rows, pos, 1, 1)
    np.testing.assert_array_equal(rows["user"].to_numpy(), rows[USER_ID].to_numpy() * 3 + 1)
    same = sample_negatives(big(n_users=20, per_user=10), SCHEMA, NegativeConfig(), seed=0)
    np.testing.assert_array_equal(same["user"].to_numpy(), same[USER_ID].to_numpy())


def test_item_tuples_chunked_scan() -> None:
    df = big(n_users=10, per_user=9)
    tid, tuples = item_tuples(df, ("item", "category"))
    for chunk_rows in (1, 2, 7):
        t2, u2 = item_tuples(df, ("item", "category"), chunk_rows)
        np.testing.assert_array_equal(t2, tid)
        np.testing.assert_array_equal(u2, tuples)
    np.testing.assert_array_equal(tuples[tid], df[["item", "category"]].to_numpy())
    first = np.sort(np.unique(tid, return_index=True)[1])
    assert tid.dtype == np.int64 and (tid[first] == np.arange(len(tuples))).all()  # first-appearance order
