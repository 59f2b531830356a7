"""Results tables on hand-made runs: mean ± std, best in bold, improvement, significance, sweeps, timings."""

from __future__ import annotations

import numpy as np
import pytest

from liftrec.recsys.evaluation.metrics import auc, topn_metrics
from liftrec.recsys.evaluation.significance import paired_t_test
from liftrec.recsys.evaluation.tables import (
    inference_table,
    primary_metric,
    results_table,
    summarise,
    sweep_table,
)


def _run(values: dict[int, tuple[float, float]], skipped: bool = False) -> dict:
    """A run as run_entry writes it: {seed: {"test": {AUC, LogLoss}, "valid": ...}}."""
    seeds = {
        str(s): {"test": {"AUC": a, "LogLoss": ll, "rows": 10}, "valid": {"AUC": 0.5, "LogLoss": 0.7}}
        for s, (a, ll) in values.items()
    }
    return {"skipped": skipped, "seeds": {} if skipped else seeds}


RUNS = {
    "lift": _run({0: (0.80, 0.40), 1: (0.82, 0.42), 2: (0.84, 0.38)}),
    "din": _run({0: (0.75, 0.45), 1: (0.77, 0.41), 2: (0.76, 0.46)}),
    "gbdt": _run({0: (0.70, 0.35), 1: (0.70, 0.37), 2: (0.70, 0.36)}),  # worst AUC, best (lowest) LogLoss
    "fpmc": _run({}, skipped=True),
}


def _scores(rng: np.random.Generator, n: int = 60, row_offset: int = 0) -> dict[str, np.ndarray]:
    label = (np.arange(n) % 3 == 0).astype(np.float32)
    out = {"row_id": np.arange(n) + row_offset, "label": label, "group_id": np.arange(n) // 3}
    for s in (0, 1, 2):
        out[f"seed_{s}"] = (label * 0.3 + rng.random(n)).astype(np.float32)
    return out


def test_summarise_mean_and_sample_std_skipping_skipped_runs():
    s = summarise(RUNS, "ctr")
    assert list(s) == ["lift", "din", "gbdt"]  # fpmc skipped
    assert s["lift"]["AUC"]["mean"] == pytest.approx(0.82)
    assert s["lift"]["AUC"]["std"] == pytest.approx(0.02)  # ddof=1: sqrt((0.02² + 0 + 0.02²) / 2)
    assert s["din"]["LogLoss"]["mean"] == pytest.approx(0.44)
    assert s["din"]["LogLoss"]["std"] == pytest.approx(np.std([0.45, 0.41, 0.46], ddof=1))
    assert s["gbdt"]["AUC"]["std"] == pytest.approx(0.0)
    assert s["lift"]["AUC"]["seeds"] == {"0": 0.80, "1": 0.82, "2": 0.84}
    one = summarise({"x": _run({0: (0.6, 0.5)})}, "ctr")
    assert one["x"]["AUC"]["std"] == 0.0  # one seed: no spread, not NaN


def test_results_table_bold_best_improvement_and_t_test():
    md, js = results_table(RUNS, {}, "ctr", title="Models")
    assert js["best"] == {"AUC": "lift", "LogLoss": "gbdt"}  # LogLoss: lowest wins
    lines = {line.split(" | ")[0][2:]: line for line in md.splitlines() if line.startswith("| `")}
    assert set(lines) == {"`lift`", "`din`", "`gbdt`"}  # the skipped run is left out
    assert "**0.8200 ± 0.0200**" in lines["`lift`"] and "**0.3600 ± 0.0100**" in lines["`gbdt`"]
    assert "**" not in lines["`din`"]
    # relative improvement of lift's AUC over each row, hand-computed
    assert js["improvement_pct"]["din"] == pytest.approx((0.82 - 0.76) / 0.76 * 100)
    assert js["improvement_pct"]["gbdt"] == pytest.approx((0.82 - 0.70) / 0.70 * 100)
    assert lines["`din`"].endswith("| +7.89 % |") and lines["`lift`"].endswith("| — |")
    assert md.startswith("## Models")
    sig = js["significance"]
    assert (sig["ours"], sig["other"], sig["metric"]) == ("lift", "din", "AUC")  # best baseline by AUC
    t = paired_t_test(np.array([0.80, 0.82, 0.84]), np.array([0.75, 0.77, 0.76]))
    assert sig["t_test"] == {"diff": pytest.approx(t.statistic), "p_value": pytest.approx(t.p_value), "n": 3}
    assert "bootstrap" not in sig  # no scores given
    assert "Best baseline by AUC: `din`." in md and "Paired t-test over 3 seeds" in md


def test_bootstrap_only_when_scores_share_row_ids():
    rng = np.random.default_rng(0)
    lift, din = _scores(rng), _scores(rng)
    _, js = results_table(RUNS, {"lift": lift, "din": din}, "ctr", n_boot=200)
    b = js["significance"]["bootstrap"]
    assert b["seed"] == "seed_0" and b["n_groups"] == 20
    assert b["diff"] == pytest.approx(auc(lift["label"], lift["seed_0"]) - auc(lift["label"], din["seed_0"]))
    assert b["ci"][0] <= b["diff"] <= b["ci"][1] and 0 < b["p_value"] <= 1
    _, js = results_table(RUNS, {"lift": lift, "din": _scores(rng, row_offset=1)}, "ctr", n_boot=200)
    assert "bootstrap" not in js["significance"] and "t_test" in js["significance"]


def test_topn_table_ranks_by_ndcg_and_bootstraps_groups():
    def topn_run(ndcg: list[float]) -> dict:
        seeds = {}
        for s, v in enumerate(ndcg):
            m = {k: 0.5 for k in ("AUC", "LogLoss", "HR@1", "HR@5", "HR@10", "NDCG@5", "MRR")}
            seeds[str(s)] = {"test": {**m, "NDCG@10": v}}
        return {"seeds": seeds}

    runs = {"lift": topn_run([0.5, 0.6]), "sasrec": topn_run([0.4, 0.42]), "narm": topn_run([0.3, 0.2])}
    rng = np.random.default_rng(1)
    scores = {"lift": _scores(rng), "sasrec": _scores(rng)}
    md, js = results_table(runs, scores, "topn", n_boot=100)
    assert primary_metric("topn") == "NDCG@10" and js["best"]["NDCG@10"] == "lift"
    assert js["significance"]["other"] == "sasrec"
    lab, g = scores["lift"]["label"], scores["lift"]["group_id"]
    want = (
        topn_metrics(g, lab, scores["lift"]["seed_0"])["NDCG@10"]
        - topn_metrics(g, lab, scores["sasrec"]["seed_0"])["NDCG@10"]
    )
    assert js["significance"]["bootstrap"]["diff"] == pytest.approx(want)
    assert js["improvement_pct"]["narm"] == pytest.approx((0.55 - 0.25) / 0.25 * 100)
    assert "| model | HR@1 | HR@5 | HR@10 | NDCG@5 | NDCG@10 | MRR | lift vs row (NDCG@10) |" in md


def test_table_without_ours_has_no_improvement_column():
    md, js = results_table({"din": RUNS["din"]}, {}, "ctr")
    assert js["improvement_pct"] == {} and "significance" not in js
    assert "| model | AUC | LogLoss |" in md


def test_sweep_table_renders_points():
    one = {"0": {"test": {"AUC": 0.7, "LogLoss": 0.5}}}
    two = {"0": {"test": {"AUC": 0.6, "LogLoss": 0.5}}, "1": {"test": {"AUC": 0.8, "LogLoss": 0.7}}}
    md = sweep_table([{"value": 1, "seeds": one}, {"value": 5, "seeds": two}], "ctr", "K", "Retrieved rows K")
    lines = md.splitlines()
    assert lines[0] == "## Retrieved rows K" and lines[2] == "| K | AUC | LogLoss |"
    assert lines[4] == "| 1 | 0.7000 | 0.5000 |"  # one seed: no ± std
    assert lines[5] == "| 5 | 0.7000 ± 0.1414 | 0.6000 ± 0.1414 |"
    enc = sweep_table(
        [{"encoder": "gru", "pretrained": True, "value": "gru/True", "seeds": one}], "ctr", "encoder", "E"
    )
    assert "| encoder | pretrained | AUC | LogLoss |" in enc and "| gru | True | 0.7000 | 0.5000 |" in enc


def test_inference_table_renders_timings():
    timings = {
        "requests": 300,
        "batch": 64,
        "device": "cpu",
        "index_seconds": 0.25,
        "models": {
            "lift": {"precomputed_ms_per_1k": 100.0, "online_ms_per_1k": 250.0},
            "bert4rec": {"precomputed_ms_per_1k": 40.04},
        },
    }
    md = inference_table(timings)
    assert "300 test requests, batch 64, device cpu; BM25 index built once in 0.25 s" in md
    assert "| `lift` | 100.0 | 250.0 | 2.50x |" in md
    assert "| `bert4rec` | 40.0 | — | — |" in md
