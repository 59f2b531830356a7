"""Table entries over seeds on tiny stage outputs: a torch baseline, GBDT, skipped entries, configs."""

from __future__ import annotations

import numpy as np
import pytest

from liftrec.recsys.config import from_dict
from liftrec.recsys.errors import ConfigError
from liftrec.recsys.schema import RETRIEVAL, TEST, TRAIN
from liftrec.recsys.training.loop import TrainConfig
from liftrec.recsys.workflows.experiments import EntryConfig, ExperimentsConfig, entry_training, run_entry
from liftrec.recsys.workflows.models import ModelData, select_targets

CFG = ExperimentsConfig(seeds=(0, 1), training=TrainConfig(epochs=1, batch_size=128, patience=1))
TINY_DIN = {"field_dim": 4, "mlp": [8], "attention_mlp": [8]}


def _check_runs(runs: dict, scores: dict, data: ModelData, name: str, model: str) -> None:
    assert (runs["name"], runs["model"], runs["task"], runs["skipped"]) == (name, model, "ctr", False)
    assert sorted(runs["seeds"]) == ["0", "1"]
    for seed in ("0", "1"):
        m = runs["seeds"][seed]
        for period in ("test", "valid"):
            assert set(m[period]) >= {"AUC", "LogLoss", "rows"} and 0.0 <= m[period]["AUC"] <= 1.0
        assert m["test"]["rows"] == len(scores["row_id"])
        assert m["train_seconds"] >= 0
    ids = scores["row_id"]
    assert set(scores) == {"row_id", "label", "group_id", "seed_0", "seed_1"}
    assert len(ids) > 0 and (data.period[ids] == TEST).all()  # the test targets only
    np.testing.assert_array_equal(scores["label"], data.y[ids])
    for s in ("seed_0", "seed_1"):
        assert scores[s].shape == ids.shape and np.isfinite(scores[s]).all()
        assert ((scores[s] >= 0) & (scores[s] <= 1)).all()


def test_torch_baseline_over_seeds(tiny_data):
    entry = EntryConfig(model="din", params=TINY_DIN)
    runs, scores = run_entry("din_small", entry, CFG, tiny_data, "ctr", device="cpu")
    _check_runs(runs, scores, tiny_data, "din_small", "din")
    assert {"best_epoch", "valid_auc_fit", "score_seconds", "samples_per_s"} <= set(runs["seeds"]["0"])
    assert not np.array_equal(scores["seed_0"], scores["seed_1"])  # the seed changes the predictor
    # the score arrays are the model's: the same seed reproduces them
    _, again = run_entry(
        "din_small",
        entry,
        ExperimentsConfig(seeds=(1,), training=CFG.training),
        tiny_data,
        "ctr",
        device="cpu",
    )
    np.testing.assert_array_equal(again["row_id"], scores["row_id"])
    np.testing.assert_allclose(again["seed_1"], scores["seed_1"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("model", ["din", "gbdt"])
def test_baseline_trains_on_retrieval_and_train_when_asked(tiny_data, model):
    """Paper §5.1: a baseline that retrieves nothing trains on the retrieval + train periods."""
    params = TINY_DIN if model == "din" else {"num_leaves": 4, "n_estimators": 5}
    one = ExperimentsConfig(seeds=(0,), training=CFG.training)
    base, _ = run_entry("b", EntryConfig(model=model, params=params), one, tiny_data, "ctr", device="cpu")
    both = EntryConfig(model=model, params=params, train_periods=("retrieval", "train"))
    runs, scores = run_entry("b", both, one, tiny_data, "ctr", device="cpu")
    assert len(scores["row_id"]) > 0 and (tiny_data.period[scores["row_id"]] == TEST).all()
    assert runs["seeds"]["0"]["test"]["AUC"] != base["seeds"]["0"]["test"]["AUC"]
    targets = select_targets(tiny_data, both.period_codes)
    n_ret, n_train = ((tiny_data.period == p).sum() for p in (RETRIEVAL, TRAIN))
    assert len(targets.row_ids) == n_ret + n_train  # every retrieval row and every scored train row
    assert targets.ret_ids is None


def test_gbdt_over_seeds(tiny_data):
    pytest.importorskip("lightgbm")
    entry = from_dict(
        EntryConfig,
        {
            "model": "gbdt",
            "params": {"num_leaves": 4, "n_estimators": 20, "num_threads": 1},
            "tasks": ["ctr"],
        },
        "experiment_models.gbdt",
    )
    runs, scores = run_entry("gbdt", entry, CFG, tiny_data, "ctr", device="cpu")
    _check_runs(runs, scores, tiny_data, "gbdt", "gbdt")
    assert "best_iteration" in runs["seeds"]["0"]


def test_entry_outside_the_task_is_skipped_with_an_empty_marker(tiny_data):
    runs, scores = run_entry("fpmc", EntryConfig(model="fpmc", tasks=("topn",)), CFG, tiny_data, "ctr")
    assert runs == {"name": "fpmc", "model": "fpmc", "task": "ctr", "skipped": True, "seeds": {}}
    assert (
        list(scores) == ["row_id"] and scores["row_id"].shape == (0,) and scores["row_id"].dtype == np.int64
    )


def test_entry_training_applies_shared_settings_device_and_overrides():
    shared = ExperimentsConfig(training=TrainConfig(epochs=3, lr=0.01, patience=1, device="cuda"))
    t = entry_training(EntryConfig(model="din"), shared, "cpu")
    assert (t.epochs, t.lr, t.patience, t.device) == (
        3,
        0.01,
        1,
        "cpu",
    )  # the run's device replaces the shared one
    t = entry_training(EntryConfig(model="din", training={"lr": 0.5, "epochs": 1}), shared, "cpu")
    assert (t.epochs, t.lr, t.patience) == (1, 0.5, 1)
    t = entry_training(EntryConfig(model="din", training={"device": "cpu"}), shared, "auto")
    assert t.device == "cpu"  # an entry's own device wins over the run's
    with pytest.raises(ConfigError, match=r"training\.lrr"):
        entry_training(EntryConfig(model="din", training={"lrr": 0.5}), shared, "cpu")


@pytest.mark.parametrize(
    ("entry", "needle"),
    [
        ({"model": "xgboost"}, r"model.*unknown model 'xgboost'"),
        ({"model": "din", "param": {}}, r"experiment_models\.din\.param\b"),
        ({"model": "din", "tasks": ["ctr", "ranking"]}, r"experiment_models\.din\.tasks.*'ranking'"),
        ({"params": {}}, r"missing parameter 'experiment_models\.din\.model'"),
        ({"model": "din", "train_periods": ["test"]}, r"experiment_models\.din\.train_periods"),
        ({"model": "rim", "train_periods": ["retrieval", "train"]}, r"train_periods.*'rim' reads retrieved"),
    ],
    ids=["unknown-model", "unknown-key", "bad-task", "no-model", "bad-periods", "retrieving-model"],
)
def test_entry_config_rejects_bad_entries(entry, needle):
    with pytest.raises(ConfigError, match=needle):
        from_dict(EntryConfig, entry, "experiment_models.din")


def test_experiments_config_checks_ranges():
    assert ExperimentsConfig().seeds == (0, 1, 2)
    with pytest.raises(ConfigError, match="experiments.seeds"):
        from_dict(ExperimentsConfig, {"seeds": []}, "experiments")
    with pytest.raises(ConfigError, match="experiments.mask_ratios"):
        from_dict(ExperimentsConfig, {"mask_ratios": [0.5, 1.0]}, "experiments")
    with pytest.raises(ConfigError, match="experiments.encoders"):
        from_dict(ExperimentsConfig, {"encoders": ["lstm"]}, "experiments")
    with pytest.raises(ConfigError, match="experiments.bootstrap"):
        from_dict(ExperimentsConfig, {"bootstrap": 10}, "experiments")


@pytest.fixture(scope="module")
def topn_data() -> ModelData:
    """Tiny top-N rows (a positive and 9 sampled negatives per test group), histories only."""
    from liftrec.recsys.data.negatives import NegativeConfig, sample_negatives
    from liftrec.recsys.data.sequences import WindowConfig, build_windows
    from liftrec.recsys.data.split import SplitConfig, split_by_time
    from liftrec.recsys.data.synthetic import SyntheticConfig, generate_synthetic

    df, schema = generate_synthetic(
        SyntheticConfig(num_users=40, num_items=120, num_categories=8, interactions_per_user=20.0), seed=5
    )
    df, _ = split_by_time(df, SplitConfig(), schema.time_unit)
    rows = sample_negatives(df, schema, NegativeConfig(task="topn", topn_per_positive=9), seed=5)
    return ModelData(rows, schema, windows=build_windows(rows, WindowConfig(length=6)), length=6)


def test_topn_entry_reports_ranking_metrics_per_group(topn_data):
    entry = EntryConfig(model="sasrec", params={"field_dim": 4, "blocks": 1}, tasks=("topn",))
    cfg = ExperimentsConfig(seeds=(0,), training=CFG.training)
    runs, scores = run_entry("sasrec", entry, cfg, topn_data, "topn", device="cpu")
    test = runs["seeds"]["0"]["test"]
    assert {"HR@1", "HR@10", "NDCG@10", "MRR", "AUC"} <= set(test)
    assert test["HR@10"] == pytest.approx(
        1.0
    )  # 10 candidates per group: the positive is always in the top 10
    groups = scores["group_id"]
    assert len(np.unique(groups)) * 10 == len(groups)  # whole candidate groups, for the grouped bootstrap
    assert (np.bincount(np.unique(groups, return_inverse=True)[1], weights=scores["label"]) == 1).all()
    skipped, _ = run_entry("sasrec", entry, cfg, topn_data, "ctr")
    assert skipped["skipped"] is True


def test_pop_entry_is_the_item_popularity_floor(tiny_data):
    entry = EntryConfig(model="pop", train_periods=("retrieval", "train"))
    runs, scores = run_entry("pop", entry, CFG, tiny_data, "ctr", device="cpu")
    _check_runs(runs, scores, tiny_data, "pop", "pop")
    np.testing.assert_array_equal(scores["seed_0"], scores["seed_1"])  # no randomness
