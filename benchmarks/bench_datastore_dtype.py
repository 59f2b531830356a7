"""Does a float16 datastore move LIFT's quality? float16 vs float32 on the synthetic data, side by side.

Pipeline (CPU): synthetic interactions -> time split -> CTR negatives -> windows -> short
mask-behaviour pretraining -> datastore and own histories in float32 -> BM25 top-K -> LIFT trained
per seed twice, once on the float32 vectors and once on their float16 rounding (exactly what
``DatastoreConfig(dtype="float16")`` stores: the encoder runs in float32, the result is cast).
Prints the vectors' max abs / relative error and min cosine, a table of test AUC / LogLoss per seed,
and the float32-trained model scored on float16 inputs (the pure inference effect).

Usage: python benchmarks/bench_datastore_dtype.py [--users 2000] [--seeds 0 1 2] [--out result.json]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from liftrec.recsys.data.negatives import NegativeConfig, sample_negatives
from liftrec.recsys.data.sequences import WindowConfig, build_windows, gather_windows
from liftrec.recsys.data.split import SplitConfig, split_by_time
from liftrec.recsys.data.synthetic import SyntheticConfig, generate_synthetic
from liftrec.recsys.evaluation import auc, logloss
from liftrec.recsys.models.lift_batch import lift_batches
from liftrec.recsys.models.registry import build_model
from liftrec.recsys.retrieval.bm25 import BM25Config, BM25Index
from liftrec.recsys.retrieval.datastore import Datastore, DatastoreConfig, build_datastore, encode_rows
from liftrec.recsys.schema import LABEL, PERIOD, TEST, TRAIN, TS, USER_ID
from liftrec.recsys.training.batching import ArrayBatches, window_tokens
from liftrec.recsys.training.loop import TrainConfig, fit


def vector_errors(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Max abs / per-vector relative error and min cosine between two (n, v) arrays."""
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
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--pretrain-epochs", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--length", type=int, default=20)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    t0, L = time.perf_counter(), args.length

    df, schema = generate_synthetic(SyntheticConfig(num_users=args.users), seed=0)
    df, _ = split_by_time(df, SplitConfig())
    rows = sample_negatives(df, schema, NegativeConfig(task="ctr"), seed=0)
    windows = build_windows(rows, WindowConfig(length=L))
    X, y, period = rows[list(schema.fields)].to_numpy(), rows[LABEL].to_numpy(), rows[PERIOD].to_numpy()

    # short mask-behaviour pretraining, so the stored vectors have a trained encoder's distribution
    def seq_tokens(p: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        fields, labels = window_tokens(gather_windows(windows["pool_index"], p["lo"], p["hi"], L), X, y)
        return {"fields": fields, "labels": labels}

    card = schema.cardinalities
    pre = build_model("mask_behaviour", {"encoder": {"max_len": L}}, cardinalities=card, seed=0)
    seq = ArrayBatches(
        {"lo": windows["seq_lo"], "hi": windows["seq_hi"]}, 256, shuffle=True, seed=0, transform=seq_tokens
    )
    fit(pre, seq, TrainConfig(epochs=args.pretrain_epochs, device="cpu"), seed=0)

    f32 = DatastoreConfig(dtype="float32", device="cpu")
    ds32 = build_datastore(pre.encoder, rows, windows, schema, L, f32)
    ds16 = Datastore(ds32.row_ids, ds32.hist.astype(np.float16), ds32.fut.astype(np.float16))
    ids = {"train": np.flatnonzero(period == TRAIN), "test": np.flatnonzero(period == TEST)}
    own = {n: encode_rows(pre.encoder, rows, windows, schema, i, L, f32) for n, i in ids.items()}

    qf = [schema.fields.index(f) for f in schema.query_fields] or list(range(len(schema.fields)))
    ret, users, ts = ds32.row_ids, rows[USER_ID].to_numpy(), rows[TS].to_numpy()
    index = BM25Index.build(X[ret][:, qf], ret, users[ret], ts[ret], BM25Config(k=args.k))
    hits = {n: index.search(X[i][:, qf], query_users=users[i]).row_ids for n, i in ids.items()}
    y_test = y[ids["test"]]

    def batches(ds: Datastore, split: str, dtype: type, shuffle: bool, seed: int) -> ArrayBatches:
        own_split = own[split].astype(dtype)
        return lift_batches(ids[split], hits[split], X, y, ds, own_split, 512, shuffle=shuffle, seed=seed)

    result: dict[str, object] = {
        "rows": len(rows),
        "retrieval_rows": len(ret),
        "train": len(ids["train"]),
        "test": len(y_test),
        "hist": vector_errors(ds32.hist, ds16.hist),
        "fut": vector_errors(ds32.fut, ds16.fut),
        "runs": [],
    }
    for seed in args.seeds:
        run: dict[str, object] = {"seed": seed}
        for name, ds, dt in (("float32", ds32, np.float32), ("float16", ds16, np.float16)):
            torch.manual_seed(seed)
            model = build_model("lift", {}, cardinalities=schema.cardinalities, encoder_dim=ds.dim)
            cfg = TrainConfig(epochs=args.epochs, weight_decay=1e-4, device="cpu")
            fit(model, batches(ds, "train", dt, True, seed), cfg, seed=seed)
            p = predict(model, batches(ds, "test", dt, False, seed))
            run[name] = {"auc": auc(y_test, p), "logloss": logloss(y_test, p)}
            if name == "float32":
                p16 = predict(model, batches(ds16, "test", np.float16, False, seed))
                run["float32_model_on_float16"] = {
                    "auc": auc(y_test, p16),
                    "max_abs_prob_diff": float(np.abs(p16 - p).max()),
                }
        result["runs"].append(run)  # type: ignore[union-attr]
    result["seconds"] = round(time.perf_counter() - t0, 1)

    print(f"rows {len(rows)}  retrieval {len(ret)}  train {len(ids['train'])}  test {len(y_test)}")
    for n in ("hist", "fut"):
        e = result[n]
        print(
            f"{n:5s} vectors: max |err| {e['max_abs_err']:.2e} (|x| <= {e['max_abs_value']:.2f}), "
            f"max rel {e['max_rel_err']:.2e}, min cosine {e['min_cosine']:.7f}"
        )
    print("| seed | AUC f32 | AUC f16 | LogLoss f32 | LogLoss f16 | f32 model, f16 inputs: AUC, max dp |")
    print("|---|---|---|---|---|---|")
    for r in result["runs"]:  # type: ignore[union-attr]
        a, b, c = r["float32"], r["float16"], r["float32_model_on_float16"]
        print(
            f"| {r['seed']} | {a['auc']:.4f} | {b['auc']:.4f} | {a['logloss']:.4f} | {b['logloss']:.4f} "
            f"| {c['auc']:.5f}, {c['max_abs_prob_diff']:.1e} |"
        )
    print(f"({result['seconds']} s)")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
