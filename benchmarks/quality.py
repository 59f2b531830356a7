"""End-to-end quality of LIFT and its ablations over seeds, through the library workflows (no Kedro).

Per seed: data (the synthetic generator with that seed, or a real dataset's raw files) -> time split
-> negatives -> windows -> mask-behaviour pretraining -> datastore -> BM25 retrieval -> predictor
variants -> test metrics. Parameters are read from ``conf/base`` (the same defaults as ``kedro run``),
with ``--set key=value`` overrides (dotted, YAML values), so the numbers match the pipeline's.

Variants (the paper's ablations, each a parameter):

* ``lift``: LIFT (retrieved histories and futures, own history h_t);
* ``no_pretrain``: LIFT with a seeded random frozen encoder (``pretrain.enabled=false``);
* ``history_only``: no e_r^f (``use_future=false``);
* ``future_only``: no e_r^h (``use_history=false``);
* ``no_context``: no retrieved encoder vector (``use_history=use_future=false``; h_t and the
  retrieved keys and labels stay: RIM plus the own history);
* ``no_encoder``: no encoder vector at all (also ``use_own_history=false``: RIM-like).

``--predictor-seeds N`` trains each variant N times per data seed (predictor seeds s, s + 1000, ...)
and reports the mean: early stopping on the validation slice makes a single predictor's test AUC move
by +-0.015 with its seed on the synthetic default, more than the gaps between variants.
``--predictor-constant-field F`` is a diagnostic: the predictor sees field F (e.g. ``user``) as one
constant code, while retrieval and the encoder still use it (docs/results.md, memorisation).

Prints test (and valid) AUC / LogLoss mean ± std per variant (plus HR/NDCG/MRR for top-N), the paired
t-test of LIFT against each variant over seeds, and writes everything as JSON.

    python benchmarks/quality.py --seeds 0 1 2 --out benchmarks/results/quality_synthetic.json
    python benchmarks/quality.py --dataset ml-100k --raw-dir ../shared/data/ml-100k --task topn \\
        --set negatives.topn_target_fraction=0.2
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from liftrec.recsys.config import from_dict  # noqa: E402
from liftrec.recsys.data.negatives import NegativeConfig, sample_negatives  # noqa: E402
from liftrec.recsys.data.sequences import WindowConfig, build_windows  # noqa: E402
from liftrec.recsys.data.split import SplitConfig, split_by_time  # noqa: E402
from liftrec.recsys.data.synthetic import SyntheticConfig, generate_synthetic  # noqa: E402
from liftrec.recsys.evaluation.significance import paired_t_test  # noqa: E402
from liftrec.recsys.retrieval.bm25 import BM25Config  # noqa: E402
from liftrec.recsys.retrieval.datastore import DatastoreConfig  # noqa: E402
from liftrec.recsys.schema import query_fields_of  # noqa: E402
from liftrec.recsys.workflows.context import encode_contexts, retrieve_for_targets  # noqa: E402
from liftrec.recsys.workflows.predict import (  # noqa: E402
    PredictorStageConfig,
    evaluate_predictions,
    load_predictor,
    predict_targets,
    train_predictor,
)
from liftrec.recsys.workflows.pretrain import (  # noqa: E402
    PretrainStageConfig,
    load_encoder,
    pretrain_encoder,
)
from liftrec.recsys.workflows.reference import popularity_reference  # noqa: E402

CONF = Path(__file__).resolve().parents[1] / "conf" / "base"
VARIANTS: dict[str, tuple[bool, dict[str, bool]]] = {  # name -> (pretrained encoder, LiftConfig switches)
    "lift": (True, {}),
    "no_pretrain": (False, {}),
    "history_only": (True, {"use_future": False}),
    "future_only": (True, {"use_history": False}),
    "no_context": (True, {"use_history": False, "use_future": False}),
    "no_encoder": (True, {"use_history": False, "use_future": False, "use_own_history": False}),
    "pop": (False, {}),  # not LIFT: the popularity floor on the same targets (no encoder, no training)
}
TOPN_KEYS = ("HR@1", "HR@5", "HR@10", "NDCG@5", "NDCG@10", "MRR")


def load_params(overrides: list[str], env: str | None = None) -> dict[str, Any]:
    """The conf/base parameters (all parameters_*.yml merged), a configuration environment's over them
    (merged key by key, as Kedro's soft merge), then dotted ``key=value`` overrides."""
    params: dict[str, Any] = {}
    for folder in [CONF] + ([CONF.parent / env] if env else []):
        if not folder.is_dir():
            raise SystemExit(f"--env {env}: no folder {folder}")
        for path in sorted(folder.glob("parameters*.yml")):
            for k, v in (yaml.safe_load(path.read_text()) or {}).items():
                if isinstance(v, str) and v.startswith("${"):
                    continue  # interpolations (e.g. the dataset) are set from the command line
                params[k] = _merge(params.get(k), v) if isinstance(v, dict) else v
    for item in overrides:
        key, _, value = item.partition("=")
        node = params
        *parents, last = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = yaml.safe_load(value)
    return params


def _merge(base: dict[str, Any] | None, over: dict[str, Any] | None) -> dict[str, Any]:
    out = copy.deepcopy(base or {})
    for k, v in (over or {}).items():
        out[k] = _merge(out.get(k), v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def prepare(params: dict[str, Any], dataset: str, raw_dir: str | None, task: str, seed: int):
    """Rows table, schema and windows of one seed (the data stage)."""
    profile = params["datasets"].get(dataset, {})
    if dataset == "synthetic":
        syn = from_dict(SyntheticConfig, params.get("synthetic"), "synthetic")
        df, schema = generate_synthetic(syn, seed)
    else:
        from liftrec.recsys.data.loaders import LoaderConfig, load_raw

        df, schema = load_raw(dataset, Path(raw_dir), from_dict(LoaderConfig, params.get("ingest"), "ingest"))
    split_cfg = from_dict(SplitConfig, _merge(profile.get("split"), params.get("split")), "split")
    split, _ = split_by_time(df, split_cfg, schema.time_unit)
    neg = _merge(profile.get("negatives"), params.get("negatives"))
    neg_cfg = from_dict(NegativeConfig, {**neg, "task": task}, "negatives")
    rows = sample_negatives(split, schema, neg_cfg, seed)
    windows = build_windows(rows, from_dict(WindowConfig, params.get("windows"), "windows"))
    return rows, schema, windows


def retrieve(params: dict[str, Any], rows, schema, windows) -> dict[str, np.ndarray]:
    """BM25 top-K for every train / valid / test row with the run's ``retrieval`` parameters."""
    r = dict(params.get("retrieval") or {})
    engine, query_fields = r.pop("engine", "engine"), r.pop("query_fields", None)
    min_future = r.pop("min_future", 0)
    fields = query_fields_of(schema, query_fields)
    bm25 = from_dict(BM25Config, r, "retrieval")
    retrieved, _ = retrieve_for_targets(rows, schema, bm25, engine=engine, query_fields=fields,
                                        windows=windows, min_future=min_future)  # fmt: skip
    return retrieved


def run_seed(params: dict[str, Any], args: argparse.Namespace, seed: int, task: str) -> dict[str, Any]:
    """Every variant of one seed; pretraining and the datastore are shared where the variants allow."""
    t0 = time.perf_counter()
    rows, schema, windows = prepare(params, args.dataset, args.raw_dir, task, seed)
    length = from_dict(WindowConfig, params.get("windows"), "windows").length
    ds_params = {"device": args.device, **(params.get("datastore") or {})}
    ds_cfg = from_dict(DatastoreConfig, ds_params, "datastore")
    pre = _merge(params.get("pretrain"), {"training": {"device": args.device}})
    hide = args.predictor_constant_field
    if hide is not None and hide not in schema.fields:  # checked before the costly stages
        known = ", ".join(schema.fields)
        raise SystemExit(f"--predictor-constant-field: {hide!r} is not a field of {args.dataset} ({known})")
    needs_model = any(v != "pop" for v in args.variants)
    retrieved = retrieve(params, rows, schema, windows) if needs_model else None
    contexts: dict[bool, tuple] = {}
    out: dict[str, Any] = {"seed": seed, "rows": len(rows)}
    for name in args.variants:
        if name == "pop":
            out[name] = popularity_reference(rows, schema, task)
            continue
        pretrained, switches = VARIANTS[name]
        if pretrained not in contexts:
            cfg = from_dict(PretrainStageConfig, {**pre, "enabled": pretrained}, "pretrain")
            package, pm = pretrain_encoder(rows, windows, schema, cfg, length, seed)
            store, own, _ = encode_contexts(load_encoder(package), rows, windows, schema, length, ds_cfg)
            contexts[pretrained] = (store, own)
            if pretrained:
                out["pretrain"] = {k: pm.get(k) for k in ("holdout_masked_auc", "best_epoch", "seconds")}
        store, own = contexts[pretrained]
        train = _merge(params.get("train"), {"lift": switches, "training": {"device": args.device}})
        pcfg = from_dict(PredictorStageConfig, train, "train")
        prows = rows.assign(**{hide: 1}) if hide else rows
        each = []
        for pseed in (seed + 1000 * j for j in range(args.predictor_seeds)):
            package, tm = train_predictor(prows, schema, retrieved, store, own, pcfg, pseed)
            model = load_predictor(package, args.device)
            predictions = predict_targets(model, prows, schema, retrieved, store, own, pcfg)
            each.append({**evaluate_predictions(predictions, task), "best_epoch": tm["best_epoch"]})
            logging.info("seed %d/%d %-13s test AUC %.4f", seed, pseed, name, each[-1]["test"]["AUC"])
        out[name] = _mean_metrics(each)
    out["seconds"] = time.perf_counter() - t0
    return out


def _mean_metrics(each: list[dict[str, Any]]) -> dict[str, Any]:
    """Metrics averaged over predictor seeds (one entry: unchanged), the per-seed values kept."""
    if len(each) == 1:
        return each[0]
    mean = {p: {k: float(np.mean([e[p][k] for e in each])) for k in each[0][p]} for p in ("test", "valid")}
    return {**mean, "best_epoch": [e["best_epoch"] for e in each], "per_predictor_seed": each}


def summarise(runs: list[dict[str, Any]], variants: list[str], task: str) -> dict[str, Any]:
    """Mean ± std per variant and metric, and LIFT's paired t-test against every other variant."""
    keys = ["AUC", "LogLoss"] + (list(TOPN_KEYS) if task == "topn" else [])
    table: dict[str, Any] = {}
    for v in variants:
        table[v] = {}
        for period in ("test", "valid"):
            for k in keys:
                vals = np.array([r[v][period][k] for r in runs], dtype=np.float64)
                std = float(vals.std(ddof=1)) if len(vals) > 1 else 0.0
                table[v][f"{period}.{k}"] = {"mean": float(vals.mean()), "std": std, "values": vals.tolist()}
    tests = {}
    if "lift" in variants and len(runs) > 1:
        main = "HR@10" if task == "topn" else "AUC"
        a = np.array([r["lift"]["test"][main] for r in runs])
        for v in variants:
            if v != "lift":
                res = paired_t_test(a, np.array([r[v]["test"][main] for r in runs]))
                fields = dataclasses.asdict(res)
                numbers = {k: x for k, x in fields.items() if isinstance(x, (int, float))}
                tests[v] = {"metric": main, **numbers}
    return {"table": table, "lift_vs": tests}


def markdown(summary: dict[str, Any], task: str, period: str = "test") -> str:
    keys = ["AUC", "LogLoss"] + (list(TOPN_KEYS) if task == "topn" else [])
    lines = ["| variant | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    for v, m in summary["table"].items():
        cells = [f"{m[f'{period}.{k}']['mean']:.4f} ± {m[f'{period}.{k}']['std']:.4f}" for k in keys]
        lines.append(f"| {v} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="synthetic")
    ap.add_argument("--raw-dir", default=None, help="folder of the raw files (real datasets)")
    ap.add_argument("--task", default=None, choices=("ctr", "topn"), help="default: the dataset's task")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="dotted key=value (YAML)")
    ap.add_argument("--env", default=None, help="a configuration environment over base, e.g. paper")
    ap.add_argument("--predictor-seeds", type=int, default=1, help="predictor trainings per data seed")
    ap.add_argument("--predictor-constant-field", default=None, help="diagnostic: hide a field (predictor)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=None, help="JSON output path")
    args = ap.parse_args()
    if args.predictor_seeds < 1:
        ap.error(f"--predictor-seeds must be >= 1, got {args.predictor_seeds}")
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger(__name__).setLevel(logging.INFO)
    torch.set_num_threads(args.threads)
    params = load_params(args.overrides, args.env)
    task = args.task or params["datasets"].get(args.dataset, {}).get("task", "ctr")
    runs = []
    for seed in args.seeds:
        runs.append(run_seed(params, args, seed, task))
        print(f"seed {seed}: " + ", ".join(f"{v} {runs[-1][v]['test']['AUC']:.4f}" for v in args.variants)
              + f" ({runs[-1]['seconds']:.0f} s)", flush=True)  # fmt: skip
    summary = summarise(runs, args.variants, task)
    print(f"\n{args.dataset} ({task}), seeds {args.seeds}, test:\n" + markdown(summary, task))
    print("\nvalid:\n" + markdown(summary, task, "valid"))
    for v, t in summary["lift_vs"].items():
        stats = ", ".join(f"{k} {x:.4g}" for k, x in t.items() if k != "metric")
        print(f"lift vs {v}: paired t-test on test {t['metric']}: {stats}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        record = {"dataset": args.dataset, "task": task, "seeds": args.seeds, "env": args.env,
                  "overrides": args.overrides,
                  "predictor_seeds": args.predictor_seeds,
                  "predictor_constant_field": args.predictor_constant_field}  # fmt: skip
        Path(args.out).write_text(json.dumps({**record, "runs": runs, **summary}, indent=1))


if __name__ == "__main__":
    main()
