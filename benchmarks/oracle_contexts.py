"""Where does the synthetic signal live? The LIFT predictor on ORACLE context vectors, over seeds.

Same data, split, negatives, windows and BM25 retrieval as ``benchmarks/quality.py``, but encoder
vectors are replaced by an oracle summary of the same window: the category histogram of its
positive interactions (normalised, ``num_categories + 1`` dims), i.e. exactly the "state" the
generator plants. The predictor, its ablation switches and its training are unchanged. This
separates two questions:

* can the predictor use retrieved contexts at all (``lift`` / ``history_only`` vs ``no_context``)
  when the vectors reveal the state? and
* do retrieved FUTURES add anything over retrieved HISTORIES (``lift`` vs ``history_only``)?

``--learned VIEW ...`` keeps the pretrained encoder's vectors for some views (``own``: the target's
h_t, ``hist``: retrieved histories, ``fut``: retrieved futures) and the oracle for the others. Every
vector is then ``[learned | oracle]`` with the unused half zero, so all views share one width.
``--learned own hist`` asks: do oracle futures add anything to the learned histories?

    python benchmarks/oracle_contexts.py --seeds 0 1 2 --out benchmarks/results/oracle_synthetic.json
    python benchmarks/oracle_contexts.py --seeds 0 1 2 --learned own hist --predictor-seeds 2 \\
        --variants lift history_only --set train.lift.use_user_id=false
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

from quality import VARIANTS, _mean_metrics, _merge, load_params, markdown, prepare, retrieve, summarise  # noqa: E402

from liftrec.recsys.config import from_dict  # noqa: E402
from liftrec.recsys.data.sequences import gather_windows  # noqa: E402
from liftrec.recsys.retrieval.datastore import DatastoreConfig  # noqa: E402
from liftrec.recsys.schema import LABEL, PERIOD, RETRIEVAL  # noqa: E402
from liftrec.recsys.workflows.context import encode_contexts  # noqa: E402
from liftrec.recsys.workflows.predict import (  # noqa: E402
    PredictorStageConfig,
    evaluate_predictions,
    load_predictor,
    predict_targets,
    train_predictor,
)
from liftrec.recsys.workflows.pretrain import PretrainStageConfig, load_encoder, pretrain_encoder  # noqa: E402

VIEWS = ("own", "hist", "fut")


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


def context_vectors(params, rows, schema, windows, seed: int, learned: list[str]) -> tuple[dict, dict]:
    """Datastore and own-history vectors: oracle histograms, or [learned | oracle] per view."""
    length = int(params["windows"]["length"])
    ret = np.flatnonzero(rows[PERIOD].to_numpy() == RETRIEVAL)
    tgt = np.flatnonzero(rows[PERIOD].to_numpy() != RETRIEVAL)
    oracle = {"own": category_histograms(rows, windows, tgt, "hist", length),
              "hist": category_histograms(rows, windows, ret, "hist", length),
              "fut": category_histograms(rows, windows, ret, "fut", length)}  # fmt: skip
    if learned:
        pre = _merge(params.get("pretrain"), {"enabled": True, "training": {"device": "cpu"}})
        package, _ = pretrain_encoder(rows, windows, schema, from_dict(PretrainStageConfig, pre, "pretrain"),
                                      length, seed)  # fmt: skip
        ds_cfg = from_dict(DatastoreConfig, {"device": "cpu", **(params.get("datastore") or {})}, "datastore")
        store, own, _ = encode_contexts(load_encoder(package), rows, windows, schema, length, ds_cfg)
        enc = {"own": own["hist"], "hist": store["hist"], "fut": store["fut"]}
        for v in VIEWS:  # one width for all views: the unused half is zero
            a, b = enc[v].astype(np.float32), oracle[v].astype(np.float32)
            a, b = (a, np.zeros_like(b)) if v in learned else (np.zeros_like(a), b)
            oracle[v] = np.concatenate([a, b], axis=1).astype(np.float16)
    return {"row_ids": ret, "hist": oracle["hist"], "fut": oracle["fut"]}, {
        "row_ids": tgt,
        "hist": oracle["own"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    names = [v for v in VARIANTS if v != "no_pretrain"]  # the encoder is the oracle here
    ap.add_argument("--variants", nargs="+", default=names, choices=names)
    ap.add_argument(
        "--learned", nargs="*", default=[], choices=VIEWS, help="views that keep the encoder's vectors"
    )
    ap.add_argument("--predictor-seeds", type=int, default=1, help="predictor trainings per data seed")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if args.predictor_seeds < 1:
        ap.error(f"--predictor-seeds must be >= 1, got {args.predictor_seeds}")
    torch.set_num_threads(args.threads)
    params = load_params(args.overrides)
    runs = []
    for seed in args.seeds:
        rows, schema, windows = prepare(params, "synthetic", None, "ctr", seed)
        retrieved = retrieve(params, rows, schema, windows)
        store, own = context_vectors(params, rows, schema, windows, seed, args.learned)
        out = {"seed": seed}
        for name in args.variants:
            train = _merge(params.get("train"), {"lift": VARIANTS[name][1], "training": {"device": "cpu"}})
            cfg = from_dict(PredictorStageConfig, train, "train")
            each = []
            for pseed in (seed + 1000 * j for j in range(args.predictor_seeds)):
                package, tm = train_predictor(rows, schema, retrieved, store, own, cfg, pseed)
                pred = predict_targets(
                    load_predictor(package, "cpu"), rows, schema, retrieved, store, own, cfg
                )
                each.append({**evaluate_predictions(pred, "ctr"), "best_epoch": tm["best_epoch"]})
            out[name] = _mean_metrics(each)
        runs.append(out)
        print(
            f"seed {seed}: " + ", ".join(f"{v} {out[v]['test']['AUC']:.4f}" for v in args.variants),
            flush=True,
        )
    summary = summarise(runs, args.variants, "ctr")
    what = f"learned {' '.join(args.learned)}, oracle for the rest" if args.learned else "all oracle"
    print(f"\ncontext vectors ({what}), test:\n" + markdown(summary, "ctr"))
    for v, t in summary["lift_vs"].items():
        print(f"lift vs {v}: {t['statistic']:+.4f} (p = {t['p_value']:.3f})")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        record = {"seeds": args.seeds, "learned": args.learned, "predictor_seeds": args.predictor_seeds,
                  "overrides": args.overrides, "runs": runs, **summary}  # fmt: skip
        Path(args.out).write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
