"""Synthetic generator: contract, determinism, scaling, skew, and the planted 'others' future' signal."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from liftrec.recsys.config import from_dict
from liftrec.recsys.data import synthetic
from liftrec.recsys.data.synthetic import SyntheticConfig, generate_synthetic, zipf_ranks
from liftrec.recsys.errors import ConfigError
from liftrec.recsys.schema import LABEL, ROW_ID, TS, USER_ID, Schema

SMALL = SyntheticConfig(num_users=300, num_items=2_000, num_categories=30, interactions_per_user=40)


def check_contract(df: pd.DataFrame, schema: Schema, cfg: SyntheticConfig) -> None:
    assert list(df.columns) == [ROW_ID, USER_ID, TS, LABEL, *schema.fields]
    assert df[LABEL].dtype == np.int8 and (df[LABEL] == 1).all()
    for c in (ROW_ID, USER_ID, TS, *schema.fields):
        assert df[c].dtype == np.int64, c
    np.testing.assert_array_equal(df[ROW_ID], np.arange(len(df)))
    np.testing.assert_array_equal(df[USER_ID], df[schema.user_field])
    u, t = df[USER_ID].to_numpy(), df[TS].to_numpy()
    assert ((u[1:] > u[:-1]) | ((u[1:] == u[:-1]) & (t[1:] >= t[:-1]))).all()  # sorted by (user, ts)
    for f, card in zip(schema.fields, schema.cardinalities, strict=True):
        assert df[f].min() >= 1 and df[f].max() < card, f  # 0 stays free for padding
    start = int(pd.Timestamp(cfg.start).timestamp())
    assert t.min() >= start and t.max() < start + cfg.days * 86_400
    assert df[USER_ID].nunique() == cfg.num_users  # every user code 1..num_users is used
    # One category per item: item-side fields form consistent tuples.
    assert (df.groupby("item")["category"].nunique() == 1).all()


def test_contract_and_schema() -> None:
    df, schema = generate_synthetic(SMALL, seed=0)
    check_contract(df, schema, SMALL)
    assert schema.fields == ("user", "item", "category", "behavior")
    assert schema.item_fields == ("item", "category") and schema.user_fields == ("user",)
    assert schema.query_fields == ("user", "item", "category") and schema.context_fields == ("behavior",)
    assert schema.cardinalities == (301, 2_001, 31, 5)
    assert Schema.from_dict(schema.to_dict()).fields == schema.fields


def test_determinism_by_seed() -> None:
    a, sa = generate_synthetic(SMALL, seed=3)
    b, sb = generate_synthetic(SMALL, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert sa == sb
    c, _ = generate_synthetic(SMALL, seed=4)
    assert len(c) != len(a) or not np.array_equal(c["item"].to_numpy(), a["item"].to_numpy())


def test_sizes_scale_with_parameters() -> None:
    base, _ = generate_synthetic(SMALL, seed=1)
    assert abs(len(base) / (300 * 40) - 1) < 0.08
    double_users, _ = generate_synthetic(SyntheticConfig(**{**SMALL.__dict__, "num_users": 600}), seed=1)
    assert abs(len(double_users) / len(base) - 2) < 0.15
    exact, _ = generate_synthetic(SyntheticConfig(**{**SMALL.__dict__, "activity_sigma": 0.0}), seed=1)
    assert len(exact) == 300 * 40 and (exact.groupby(USER_ID).size() == 40).all()


def test_chunked_generation_keeps_the_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(synthetic, "_CHUNK_ROWS", 500)  # ~12 users per chunk: many chunks
    df, schema = generate_synthetic(SMALL, seed=2)
    check_contract(df, schema, SMALL)


def test_skews_and_behaviour_mix() -> None:
    # Taobao-like item skew (the default world is flatter on purpose, see docs/synthetic.md)
    skewed = SyntheticConfig(
        num_users=500, interactions_per_user=60, zipf_exponent=1.1, category_zipf_exponent=0.8
    )
    df, _ = generate_synthetic(skewed, seed=5)
    mix = df["behavior"].value_counts(normalize=True).sort_index().to_numpy()
    np.testing.assert_allclose(mix, SyntheticConfig().behavior_mix, atol=0.01)
    counts = df["item"].value_counts().to_numpy()
    assert counts[: len(counts) // 10].sum() / counts.sum() > 0.4  # popular 10 % of items: a large share


def test_zipf_ranks() -> None:
    rng = np.random.default_rng(0)
    n = np.full(200_000, 10)
    r = zipf_ranks(rng, n, 1.0)
    assert r.min() == 0 and r.max() == 9
    freq = np.bincount(r, minlength=10) / len(r)
    expected = np.log((np.arange(10) + 2) / (np.arange(10) + 1)) / np.log(11)  # integral of 1/x
    np.testing.assert_allclose(freq, expected, atol=0.005)
    assert (zipf_ranks(rng, np.array([1, 1, 1]), 1.3) == 0).all()
    assert np.abs(np.bincount(zipf_ranks(rng, n, 0.0)) / len(n) - 0.1).max() < 0.01


@pytest.mark.parametrize(
    "params",
    [
        {"num_users": 0},
        {"num_items": 5, "num_categories": 10},
        {"days": 0},
        {"start": "2017-11-25"},
        {"start": "soon"},
        {"trajectory_prob": 0.9, "favourite_prob": 0.2},
        {"behavior_mix": [0.5, 0.5]},
        {"behavior_mix": [0.5, 0.5, 0.5, 0.5]},
        {"speed_jitter": 1.0},
        {"users": 10},
    ],
)
def test_config_validation(params: dict) -> None:
    with pytest.raises(ConfigError):
        from_dict(SyntheticConfig, params, "synthetic")


def next_category_accuracy(
    df: pd.DataFrame, start: int, cut_day: float = 6.0, bucket_h: int = 12
) -> tuple[float, float]:
    """How well others' past transitions vs the user's own favourite predict a user's next interest.

    Each user's interest per 12 h bucket is its most frequent category there; consecutive equal
    interests collapse into runs. "Others" (odd users) give, from runs entirely before the cut, the
    most common next interest after each (previous, current) pair: what users in the same state did
    next. For every run of a "target" (even user) starting after the cut, predict its interest from
    its two previous runs with that table, and compare with the target's own most frequent category
    so far.

    Returns:
        (accuracy of others' next interests, accuracy of the own most frequent category).
    """
    d = df[["user", TS, "category"]].assign(b=(df[TS] - start) // (bucket_h * 3600))
    cnt = d.groupby(["user", "b", "category"]).size().rename("n").reset_index()
    cnt = cnt.sort_values(["user", "b", "n", "category"], ascending=[True, True, False, True])
    modes = cnt.drop_duplicates(["user", "b"])[["user", "b", "category"]]
    change = (modes["category"] != modes["category"].shift()) | (modes["user"] != modes["user"].shift())
    runs = modes[change].reset_index(drop=True)
    for lag, name in ((1, "prev"), (2, "prev2")):
        runs[name] = runs["category"].shift(lag).where(runs["user"] == runs["user"].shift(lag))
    runs = runs.dropna(subset=["prev2"])
    cut = int(cut_day * 24 // bucket_h)
    others = runs[(runs["user"] % 2 == 1) & (runs["b"] < cut)]
    table = (
        others.groupby(["prev2", "prev", "category"])
        .size()
        .rename("n")
        .reset_index()
        .sort_values(["prev2", "prev", "n"], ascending=[True, True, False])
        .drop_duplicates(["prev2", "prev"])
        .rename(columns={"category": "pred"})
    )
    targets = runs[(runs["user"] % 2 == 0) & (runs["b"] >= cut)]
    pred = targets.merge(table[["prev2", "prev", "pred"]], on=["prev2", "prev"], how="left")
    hist = targets[["user", "b"]].merge(
        d.loc[d["user"] % 2 == 0, ["user", "b", "category"]], on="user", suffixes=("", "_h")
    )
    top = (
        hist[hist["b_h"] < hist["b"]]
        .groupby(["user", "b", "category"])
        .size()
        .rename("n")
        .reset_index()
        .sort_values(["user", "b", "n"], ascending=[True, True, False])
        .drop_duplicates(["user", "b"])
        .rename(columns={"category": "own"})
    )
    own = targets.merge(top[["user", "b", "own"]], on=["user", "b"], how="left")
    assert len(targets) > 200  # enough evaluated transitions for the comparison to mean something
    return float((pred["pred"] == pred["category"]).mean()), float((own["own"] == own["category"]).mean())


def test_planted_signal_others_futures_predict_the_next_interest() -> None:
    cfg = SyntheticConfig(num_users=600, interactions_per_user=80)
    df, _ = generate_synthetic(cfg, seed=11)
    others, own = next_category_accuracy(df, int(pd.Timestamp(cfg.start).timestamp()))
    assert others > 0.3 and others > own + 0.2, (others, own)


def test_planted_signal_vanishes_without_shared_trajectories() -> None:
    # Control: one trajectory per user, so nobody's past says where anyone else goes next. The same
    # check must then fail: it measures shared structure, not an artefact of the statistic.
    cfg = SyntheticConfig(num_users=600, interactions_per_user=80, num_trajectories=600)
    df, _ = generate_synthetic(cfg, seed=11)
    others, own = next_category_accuracy(df, int(pd.Timestamp(cfg.start).timestamp()))
    assert others < 0.15 and others < own + 0.05, (others, own)
