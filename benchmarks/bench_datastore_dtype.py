"""Does a float16 datastore move LIFT's quality? float16 vs float32 on the synthetic data, side by side.

Pipeline (small, CPU, ~1-3 min): synthetic interactions -> time split -> negatives -> windows ->
short mask-behaviour pretraining -> datastore and own histories (float32) -> BM25 top-K ->
LIFT trained twice with the same seed, once on the float32 vectors and once on their float16
rounding (exactly what ``DatastoreConfig(dtype="float16")`` stores). Prints a table and JSON with:
the vectors' max abs / relative error and min cosine, test AUC / LogLoss of both runs, and the
float32-trained model scored on float16 inputs (the pure inference effect).

Usage: python benchmarks/bench_datastore_dtype.py [--users 800] [--epochs 2] [--seed 0] [--out file.json]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from liftrec.recsys.data.negatives import NegativeConfig, sample_negatives
from liftrec.recsys.data.sequences import WindowConfig, build_windows
from liftrec.recsys.data.split import SplitConfig, split_by_time
from liftrec.recsys.data.synthetic import SyntheticConfig, generate_synthetic
from liftrec.recsys.evaluation import auc, logloss
from liftrec.recsys.models.lift_batch import lift_batches
from liftrec.recsys.models.registry import build_model
from liftrec.recsys.retrieval.bm25 import BM25Config, BM25Index
from liftrec.recsys.retrieval.datastore import Datastore, DatastoreConfig, build_datastore, encode_rows
from liftrec.recsys.schema import LABEL, PERIOD, RETRIEVAL, TEST, TRAIN, TS, USER_ID
from liftrec.recsys.training.batching import ArrayBatches, window_tokens
from liftrec.recsys.training.loop import TrainConfig, fit


def vector_errors(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    a, b = a.astype(np.float64), b.astype(np.float64)
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    nz = na > 0
    cos = (a[nz] * b[nz]).sum(1) / (na[nz] * nb[nz])
    return {
        "max_abs_err": float(np.abs(a - b).max()),
        "max_rel_err": float((np.abs(a - b)[nz].max(1) / np.abs(a[nz]).max(1)).max()),
        "min_cosine": float(cos.min()),
        "max_abs_value": float(np.abs(a).max()),
    }


def predict(model: torch.nn.Module, batches: ArrayBatches) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        return np.concatenate([model.predict(b).numpy() for b in batches])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=800)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--length", type=int, default=20)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    t0 = time.perf_counter()

    df, schema = generate_synthetic(SyntheticConfig(num_users=args.users, num_items=4000), seed=args.seed)
    df, _ = split_by_time(df, SplitConfig())
    rows = sample_negatives(df, schema, NegativeConfig(task="ctr"), seed=args.seed)
    windows = build_windows(rows, WindowConfig(length=args.length))
    X, y = rows[list(schema.fields)].to_numpy(), rows[LABEL].to_numpy()
    period = rows[PERIOD].to_numpy()

    # short mask-behaviour pretraining so the vectors have a realistic (trained) distribution
    pre = build_model("mask_behaviour", {"encoder": {"max_len": args.length}}, cardinalities=schema.cardinalities,
                      seed=args.seed)
    seq = ArrayBatches({"lo": windows["seq_lo"], "hi": windows["seq_hi"]}, 256, shuffle=True, seed=args.seed,
                       transform=lambda p: dict(zip(("fields", "labels"), window_tokens(
                           _gather(windows["pool_index"], p["lo"], p["hi"], args.length), X, y), strict=True)))
    fit(pre, seq, TrainConfig(epochs=1, device="cpu"), seed=args.seed)
    encoder = pre.encoder

    f32cfg = DatastoreConfig(dtype="float32", device="cpu")
    ds32 = build_datastore(encoder, rows, windows, schema, args.length, f32cfg)
    ds16 = Datastore(ds32.row_ids, ds32.hist.astype(np.float16), ds32.fut.astype(np.float16))
    train_ids, test_ids = np.flatnonzero(period == TRAIN), np.flatnonzero(period == TEST)
    own32 = {n: encode_rows(encoder, rows, windows, schema, ids, args.length, f32cfg)
             for n, ids in (("train", train_ids), ("test", test_ids))}

    qf = [schema.fields.index(f) for f in schema.query_fields] or list(range(len(schema.fields)))
    ret = ds32.row_ids
    index = BM25Index.build(X[ret][:, qf], ret, rows[USER_ID].to_numpy()[ret], rows[TS].to_numpy()[ret],
                            BM25Config(k=args.k, exclude_own_user=True))
    users = rows[USER_ID].to_numpy()
    hits = {n: index.search(X[ids][:, qf], query_users=users[ids]).row_ids
            for n, ids in (("train", train_ids), ("test", test_ids))}

    result: dict[str, object] = {
        "rows": len(rows), "retrieval_rows": len(ret), "train": len(train_ids), "test": len(test_ids),
        "hist": vector_errors(ds32.hist, ds16.hist), "fut": vector_errors(ds32.fut, ds16.fut),
    }

    def batches(ds: Datastore, split: str, ids: np.ndarray, dtype: type, shuffle: bool) -> ArrayBatches:
        return lift_batches(ids, hits[split], X, y, ds, own32[split].astype(dtype), 512, shuffle=shuffle,
                            seed=args.seed)

    models = {}
    for name, ds, dt in (("float32", ds32, np.float32), ("float16", ds16, np.float16)):
        torch.manual_seed(args.seed)
        model = build_model("lift", {}, cardinalities=schema.cardinalities, encoder_dim=ds.dim)
        fit(model, batches(ds, "train", train_ids, dt, True), TrainConfig(epochs=args.epochs, device="cpu"),
            seed=args.seed)
        p = predict(model, batches(ds, "test", test_ids, dt, False))
        result[name] = {"auc": auc(y[test_ids], p), "logloss": logloss(y[test_ids], p)}
        models[name] = (model, p)
    p16in = predict(models["float32"][0], batches(ds16, "test", test_ids, np.float16, False))
    result["float32_model_on_float16_inputs"] = {
        "auc": auc(y[test_ids], p16in), "max_abs_prob_diff": float(np.abs(p16in - models["float32"][1]).max()),
    }
    result["seconds"] = round(time.perf_counter() - t0, 1)

    print(f"rows {len(rows)}  retrieval {len(ret)}  train {len(train_ids)}  test {len(test_ids)}")
    for n in ("hist", "fut"):
        e = result[n]
        print(f"{n:5s} vectors: max |err| {e['max_abs_err']:.2e} (|x| <= {e['max_abs_value']:.2f}), "
              f"max rel {e['max_rel_err']:.2e}, min cosine {e['min_cosine']:.7f}")
    print("| datastore | test AUC | test LogLoss |\n|---|---|---|")
    for n in ("float32", "float16"):
        print(f"| {n} | {result[n]['auc']:.4f} | {result[n]['logloss']:.4f} |")
    r = result["float32_model_on_float16_inputs"]
    print(f"float32-trained model on float16 inputs: AUC {r['auc']:.5f}, max |dp| {r['max_abs_prob_diff']:.2e}")
    print(f"({result['seconds']} s)")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)


def _gather(pool: np.ndarray, lo: np.ndarray, hi: np.ndarray, length: int) -> np.ndarray:
    from liftrec.recsys.data.sequences import gather_windows

    return gather_windows(pool, lo, hi, length)


if __name__ == "__main__":
    main()
