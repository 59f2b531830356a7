"""Where does the synthetic signal live? The LIFT predictor on ORACLE context vectors, over seeds.

Same data, split, negatives, windows and BM25 retrieval as ``benchmarks/quality.py``, but every
encoder vector is replaced by an oracle summary of the same window: the category histogram of its
positive interactions (normalised, ``num_categories + 1`` dims), i.e. exactly the "state" the
generator plants. The predictor, its ablation switches and its training are unchanged. This
separates two questions:

* can the predictor use retrieved contexts at all (``lift`` / ``history_only`` vs ``no_context``)
  when the vectors reveal the state? and
* do retrieved FUTURES add anything over retrieved HISTORIES (``lift`` vs ``history_only``)?

    python benchmarks/oracle_contexts.py --seeds 0 1 2 --out benchmarks/results/oracle_synthetic.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from quality import VARIANTS, _merge, load_params, markdown, prepare, retrieve, summarise  # noqa: E402

from liftrec.recsys.config import from_dict  # noqa: E402
from liftrec.recsys.data.sequences import gather_windows  # noqa: E402
from liftrec.recsys.schema import LABEL, PERIOD, RETRIEVAL  # noqa: E402
from liftrec.recsys.workflows.predict import (  # noqa: E402
    PredictorStageConfig,
    evaluate_predictions,
    load_predictor,
    predict_targets,
    train_predictor,
)


def category_histograms(rows, windows, ids: np.ndarray, which: str, length: int) -> np.ndarray:
    """(n, C) float16: normalised category counts of the positives in each row's window."""
    y, cat = rows[LABEL].to_numpy(), rows["category"].to_numpy()
    lo, hi = windows[f"{which}_lo"][ids], windows[f"{which}_hi"][ids]
    if which == "fut":
        hi = np.minimum(hi, lo + length)  # a future is the FIRST L rows after the row
    win = gather_windows(windows["pool_index"], lo, hi, length)  # (n, L)
    ok = (win >= 0) & (y[np.maximum(win, 0)] == 1)
    c = np.where(ok, cat[np.maximum(win, 0)], 0)
    hist = np.zeros((len(ids), int(cat.max()) + 1), np.float32)
    np.add.at(hist, (np.repeat(np.arange(len(ids)), length), c.ravel()), 1.0)
    hist[:, 0] = 0.0
    return (hist / np.maximum(hist.sum(1, keepdims=True), 1.0)).astype(np.float16)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.set_num_threads(2)
    params = load_params(args.overrides)
    variants = ["lift", "history_only", "future_only", "no_context", "no_encoder"]
    length = int(params["windows"]["length"])
    runs = []
    for seed in args.seeds:
        rows, schema, windows = prepare(params, "synthetic", None, "ctr", seed)
        retrieved = retrieve(params, rows, schema, windows)
        ret = np.flatnonzero(rows[PERIOD].to_numpy() == RETRIEVAL)
        tgt = np.flatnonzero(rows[PERIOD].to_numpy() != RETRIEVAL)
        store = {"row_ids": ret, "hist": category_histograms(rows, windows, ret, "hist", length),
                 "fut": category_histograms(rows, windows, ret, "fut", length)}  # fmt: skip
        own = {"row_ids": tgt, "hist": category_histograms(rows, windows, tgt, "hist", length)}
        out = {"seed": seed}
        for name in variants:
            train = _merge(params.get("train"), {"lift": VARIANTS[name][1], "training": {"device": "cpu"}})
            cfg = from_dict(PredictorStageConfig, train, "train")
            package, tm = train_predictor(rows, schema, retrieved, store, own, cfg, seed)
            pred = predict_targets(load_predictor(package, "cpu"), rows, schema, retrieved, store, own, cfg)
            out[name] = {**evaluate_predictions(pred, "ctr"), "best_epoch": tm["best_epoch"]}
        runs.append(out)
        print(f"seed {seed}: " + ", ".join(f"{v} {out[v]['test']['AUC']:.4f}" for v in variants), flush=True)
    summary = summarise(runs, variants, "ctr")
    print("\noracle context vectors (category histograms), test:\n" + markdown(summary, "ctr"))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"seeds": args.seeds, "runs": runs, **summary}, indent=1))


if __name__ == "__main__":
    main()
