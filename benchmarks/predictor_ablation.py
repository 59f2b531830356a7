"""Predictor ablations over seeds, from the persisted outputs of one `kedro run` (no Kedro needed).

Trains the predictor variants of the paper's Table 5 on the same data, encoder, datastore and
retrieval results (what a Kedro run persisted for a dataset), for several seeds, and prints test
AUC / LogLoss mean ± std per variant (plus top-N metrics for a top-N dataset); writes JSON.

    python benchmarks/predictor_ablation.py --project . --dataset synthetic --seeds 0 1 2

"LIFT w/o pretraining" needs its own datastore (a run with `pretrain.enabled=false`): pass that
run's project folder with `--no-pretrain-project`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from liftrec.datasets import ArrayDictDataset  # noqa: E402
from liftrec.recsys.models.lift import LiftConfig  # noqa: E402
from liftrec.recsys.schema import Schema  # noqa: E402
from liftrec.recsys.training.loop import TrainConfig  # noqa: E402
from liftrec.recsys.workflows.predict import (  # noqa: E402
    PredictorStageConfig,
    evaluate_predictions,
    load_predictor,
    predict_targets,
    train_predictor,
)

VARIANTS = {
    "LIFT": {},
    "history-only": {"use_future": False},
    "future-only": {"use_history": False},
    "no context vectors": {"use_future": False, "use_history": False},
}


def load_outputs(project: Path, dataset: str) -> dict:
    d = project / "data"
    return {
        "rows": pd.read_parquet(d / "04_feature" / dataset / "rows.parquet"),
        "schema": Schema.from_dict(json.loads((d / "02_intermediate" / dataset / "schema.json").read_text())),
        "store": ArrayDictDataset(str(d / "06_models" / dataset / "datastore")).load(),
        "hist": ArrayDictDataset(str(d / "06_models" / dataset / "target_history")).load(),
        "ret": ArrayDictDataset(str(d / "05_model_input" / dataset / "retrieved")).load(),
    }


def run_variant(o: dict, lift: dict, seed: int, task: str, epochs: int) -> dict:
    cfg = PredictorStageConfig(lift=LiftConfig(**lift), training=TrainConfig(epochs=epochs, patience=1))
    pkg, _ = train_predictor(o["rows"], o["schema"], o["ret"], o["store"], o["hist"], cfg, seed)
    model = load_predictor(pkg, "auto")
    pred = predict_targets(model, o["rows"], o["schema"], o["ret"], o["store"], o["hist"], cfg)
    return evaluate_predictions(pred, task)["test"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--project", type=Path, default=Path("."))
    ap.add_argument("--no-pretrain-project", type=Path, default=None)
    ap.add_argument("--dataset", default="synthetic")
    ap.add_argument("--task", default="ctr", choices=["ctr", "topn"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--out", type=Path, default=Path("predictor_ablation.json"))
    args = ap.parse_args()
    runs = {name: (args.project, kw) for name, kw in VARIANTS.items()}
    if args.no_pretrain_project is not None:
        runs["LIFT w/o pretraining"] = (args.no_pretrain_project, {})
    loaded: dict[Path, dict] = {}
    results: dict[str, list[dict]] = {}
    for name, (project, kw) in runs.items():
        o = loaded.setdefault(project, load_outputs(project, args.dataset))
        results[name] = [run_variant(o, kw, s, args.task, args.epochs) for s in args.seeds]
    keys = [k for k in results["LIFT"][0] if k != "rows"]
    print(f"| variant ({args.dataset}, test, {len(args.seeds)} seeds) | " + " | ".join(keys) + " |")
    print("|---|" + "---|" * len(keys))
    for name, rs in results.items():
        cells = [f"{np.mean([r[k] for r in rs]):.4f} ± {np.std([r[k] for r in rs]):.4f}" for k in keys]
        print(f"| {name} | " + " | ".join(cells) + " |")
    args.out.write_text(json.dumps({"args": vars(args) | {"project": str(args.project),
                        "no_pretrain_project": str(args.no_pretrain_project), "out": str(args.out)},
                        "results": results}, indent=1, default=float))  # fmt: skip


if __name__ == "__main__":
    main()
