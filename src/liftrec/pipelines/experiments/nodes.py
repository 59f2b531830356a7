"""Thin nodes of the experiments pipeline (the work is done in recsys.workflows.experiments and sweeps)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from liftrec.pipelines.experiments.entries import entry_model
from liftrec.pipelines.params import build, task_of
from liftrec.pipelines.pretrain.nodes import pretrain_params
from liftrec.pipelines.train.nodes import predictor_params
from liftrec.recsys.data.sequences import WindowConfig
from liftrec.recsys.errors import ConfigError
from liftrec.recsys.retrieval.datastore import DatastoreConfig
from liftrec.recsys.schema import Schema, query_fields_of
from liftrec.recsys.workflows.context import encode_contexts
from liftrec.recsys.workflows.experiments import EntryConfig, ExperimentsConfig, run_entry
from liftrec.recsys.workflows.models import ModelData
from liftrec.recsys.workflows.predict import PredictorStageConfig
from liftrec.recsys.workflows.pretrain import PretrainStageConfig, seeded_encoder
from liftrec.recsys.workflows.sweeps import SWEEPS, SweepInputs

# the ``experiments`` key holding each sweep's values
SWEEP_VALUES = {"encoders": "encoders", "mask_ratio": "mask_ratios", "k": "k_values", "length": "lengths"}


def experiments_config(experiments: dict[str, Any]) -> ExperimentsConfig:
    """The typed experiments settings from the (possibly partial) ``experiments`` mapping a node reads."""
    return build(ExperimentsConfig, experiments, "experiments")


def encode_random_contexts(
    rows: pd.DataFrame, windows: dict[str, np.ndarray], schema: dict[str, Any], pretrain: dict[str, Any],
    window_params: dict[str, Any], datastore: dict[str, Any], seed: int, device: str,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:  # fmt: skip
    """The datastore of a seeded random frozen encoder (the paper's "LIFT w/o pretraining")."""
    cfg = build(PretrainStageConfig, pretrain_params(pretrain, device), "pretrain")
    sch = Schema.from_dict(schema)
    length = build(WindowConfig, window_params, "windows").length
    store_cfg = build(DatastoreConfig, {"device": device, **(datastore or {})}, "datastore")
    store, own, _ = encode_contexts(
        seeded_encoder(cfg.encoder_config(sch), sch, seed), rows, windows, sch, length, store_cfg
    )
    return store, own


def retrieve_random_rows(rows: pd.DataFrame, retrieval: dict[str, Any], seed: int) -> dict[str, np.ndarray]:
    """K random retrieval-period rows of other users before each target (the random-retrieval control)."""
    from liftrec.pipelines.params import retrieval_config
    from liftrec.recsys.data.random_retrieval import random_retrieval_for_rows

    bm25, _, _, _ = retrieval_config(retrieval)
    return random_retrieval_for_rows(rows, bm25.k, np.random.default_rng([seed, 7]),
                                     exclude_own_user=bm25.exclude_own_user)  # fmt: skip


def run_model(
    name: str, rows: pd.DataFrame, schema: dict[str, Any], *, entry: dict[str, Any], seeds: list[int],
    training: dict[str, Any], window_params: dict[str, Any], dataset: str,
    datasets: dict[str, Any], task: str | None, device: str, windows: dict[str, np.ndarray] | None = None,
    retrieved: dict[str, np.ndarray] | None = None, datastore: dict[str, np.ndarray] | None = None,
    target_history: dict[str, np.ndarray] | None = None,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:  # fmt: skip
    """Train and test one table entry over the experiment seeds (``name`` is bound per namespace; the
    stage outputs its model does not read are not passed).

    Reads only ``experiments.seeds`` and ``experiments.training`` (so changing a sweep's values does
    not invalidate any entry).
    """
    cfg = experiments_config({"seeds": seeds, "training": training})
    length = build(WindowConfig, window_params, "windows").length
    data = ModelData(rows, Schema.from_dict(schema), windows=windows, length=length, retrieved=retrieved,
                     datastore=datastore, target_hist=target_history)  # fmt: skip
    spec = build(EntryConfig, entry, f"experiment_models.{name}")
    if spec.model != entry_model(name):
        raise ConfigError(f"parameter 'experiment_models.{name}.model': the entry '{name}' trains "
                          f"'{entry_model(name)}', got '{spec.model}'")  # fmt: skip
    return run_entry(name, spec, cfg, data, task_of(dataset, datasets, task), device)


def run_sweep(
    sweep: str, rows: pd.DataFrame, schema: dict[str, Any], windows: dict[str, np.ndarray],
    retrieved: dict[str, np.ndarray], datastore: dict[str, np.ndarray], target_history: dict[str, np.ndarray],
    sweep_seeds: list[int], values: list[Any], window_params: dict[str, Any], pretrain: dict[str, Any],
    datastore_params: dict[str, Any], train: dict[str, Any], dataset: str, datasets: dict[str, Any],
    task: str | None, seed: int, device: str,
) -> list[dict[str, Any]]:  # fmt: skip
    """One LIFT sweep (``sweep`` is bound per node: encoders | mask_ratio | k | length); ``values`` is
    its ``experiments.<SWEEP_VALUES[sweep]>`` list."""
    wcfg = build(WindowConfig, window_params, "windows")
    s = SweepInputs(
        rows=rows, schema=Schema.from_dict(schema), windows=windows, retrieved=retrieved, datastore=datastore,
        target_hist=target_history, length=wcfg.length, window_cfg=wcfg,
        pretrain=build(PretrainStageConfig, pretrain_params(pretrain, device), "pretrain"),
        store_cfg=build(DatastoreConfig, {"device": device, **(datastore_params or {})}, "datastore"),
        predictor=build(PredictorStageConfig, predictor_params(train, device), "train"),
        task=task_of(dataset, datasets, task), seed=seed,
    )  # fmt: skip
    return SWEEPS[sweep](s, experiments_config({"sweep_seeds": sweep_seeds, SWEEP_VALUES[sweep]: values}))


def time_inference(
    rows: pd.DataFrame, schema: dict[str, Any], windows: dict[str, np.ndarray],
    retrieved: dict[str, np.ndarray], datastore: dict[str, np.ndarray], target_history: dict[str, np.ndarray],
    models: list[str], requests: int, batch: int, window_params: dict[str, Any], retrieval: dict[str, Any],
    device: str,
) -> dict[str, Any]:  # fmt: skip
    """Figure 5: ms per 1,000 requests for LIFT, RIM and BERT4Rec, retrieval online vs precomputed."""
    from liftrec.pipelines.params import retrieval_config
    from liftrec.recsys.workflows.inference import inference_times

    cfg = experiments_config(
        {"inference_models": models, "inference_requests": requests, "inference_batch": batch}
    )
    sch = Schema.from_dict(schema)
    data = ModelData(rows, sch, windows=windows, length=build(WindowConfig, window_params, "windows").length,
                     retrieved=retrieved, datastore=datastore, target_hist=target_history)  # fmt: skip
    bm25, _, fields, min_future = retrieval_config(retrieval)
    return inference_times(cfg.inference_models, data, bm25, query_fields_of(sch, fields),
                           requests=cfg.inference_requests, batch=cfg.inference_batch, device=device,
                           min_future=min_future)  # fmt: skip


def write_experiments_report(
    dataset: str, datasets: dict[str, Any], task: str | None, seeds: list[int], sweep_seeds: list[int],
    bootstrap: int, sweeps: dict[str, list[dict[str, Any]]], inference: dict[str, Any], *,
    ablations: list[str], **runs_and_scores: Any,
) -> tuple[str, dict[str, Any]]:  # fmt: skip
    """Tables 2/3 (models), 4 (encoders), 5 (contexts), the sweeps and inference time, as Markdown + JSON.

    ``runs_and_scores`` holds ``runs__<entry>`` and ``scores__<entry>`` for every entry.
    """
    from liftrec.recsys.evaluation.tables import inference_table, primary_metric, results_table, sweep_table

    cfg = experiments_config({"seeds": seeds, "sweep_seeds": sweep_seeds, "bootstrap": bootstrap})
    t = task_of(dataset, datasets, task)
    runs = {k[len("runs__") :]: v for k, v in runs_and_scores.items() if k.startswith("runs__")}
    scores = {k[len("scores__") :]: v for k, v in runs_and_scores.items() if k.startswith("scores__")}
    main = [n for n in runs if n not in ablations]
    md_main, js_main = results_table(
        {n: runs[n] for n in main}, scores, t, n_boot=cfg.bootstrap,
        title=f"Models on {dataset} ({t}; test; mean ± std over seeds {list(cfg.seeds)})",
    )  # fmt: skip
    ctx = ["lift", *[n for n in ablations if n in runs]]
    md_ctx, js_ctx = results_table({n: runs[n] for n in ctx if n in runs}, scores, t, n_boot=cfg.bootstrap,
                                   title="LIFT ablations: contexts and pretraining")  # fmt: skip
    labels = {"encoders": ("encoder", "Encoders, pretrained or not"),
              "mask_ratio": ("mask ratio r", "Mask ratio"),
              "k": ("K", "Retrieved rows K"), "length": ("L", "Window length L")}  # fmt: skip
    parts = [f"# Experiments on {dataset}", "", md_main, md_ctx]
    parts += [sweep_table(sweeps[s], t, labels[s][0], f"{labels[s][1]} (sweep seeds {list(cfg.sweep_seeds)})")
              for s in sweeps]  # fmt: skip
    parts.append(inference_table(inference))
    result = {"dataset": dataset, "task": t, "primary_metric": primary_metric(t), "models": js_main,
              "ablations": js_ctx, "sweeps": sweeps, "inference": inference}  # fmt: skip
    return "\n".join(parts), result


def collect_sweeps(**sweeps: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The sweeps' points under their names, for the report."""
    return dict(sweeps)


def plot_sweep(points: list[dict[str, Any]], dataset: str, datasets: dict[str, Any], task: str | None,
               xlabel: str) -> bytes:  # fmt: skip
    """A sweep's figure (bound per sweep)."""
    from liftrec.recsys.evaluation.tables import primary_metric
    from liftrec.reporting import sweep_png

    t = task_of(dataset, datasets, task)
    return sweep_png(
        points, primary_metric(t), xlabel, f"LIFT on {dataset}: test {primary_metric(t)} vs {xlabel}"
    )


def plot_inference(inference: dict[str, Any]) -> bytes:
    """Figure 5: inference time per model, retrieval precomputed vs online."""
    from liftrec.reporting import inference_png

    return inference_png(inference)
