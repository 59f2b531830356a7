"""Wiring of the experiments: one namespaced template per table entry, LIFT's sweeps, the report.

Entries come from the model registry (every registered predictor, plus GBDT) and LIFT's ablations;
each is the same one-node template instantiated under the namespace ``exp.<entry>``, reading the
shared stage outputs (rows, windows, retrieval, datastore: computed once) and its own parameters
``experiment_models.<entry>``. No pipeline is copied per model.
"""

from __future__ import annotations

import warnings
from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node, pipeline

from liftrec.pipelines.experiments.entries import ABLATIONS, SHARED, VARIANT_INPUTS, entries, entry_inputs
from liftrec.pipelines.experiments.nodes import (
    SWEEP_VALUES,
    collect_sweeps,
    encode_random_contexts,
    plot_inference,
    plot_sweep,
    retrieve_random_rows,
    run_model,
    run_sweep,
    time_inference,
    write_experiments_report,
)

SWEEPS = {"encoders": "encoder", "mask_ratio": "mask ratio r", "k": "K", "length": "L"}
_PARAMS = {"entry": "params:entry", "seeds": "params:experiments.seeds",
           "training": "params:experiments.training", "window_params": "params:windows",
           "dataset": "params:dataset", "datasets": "params:datasets",
           "task": "params:task", "device": "params:device"}  # fmt: skip


def _bound(func, name: str):
    # a partial that still carries the function's name and module (node names, caching fingerprints)
    return update_wrapper(partial(func, name), func)


def _template(name: str) -> Pipeline:
    data = {d: d for d in entry_inputs(name)}
    template = pipeline([node(_bound(run_model, name), {**data, **_PARAMS}, ["runs", "test_scores"],
                              name="run_model")])  # fmt: skip
    mapping = {d: VARIANT_INPUTS.get(name, {}).get(d, d) for d in data}
    params = {"params:entry": f"params:experiment_models.{name}"}
    params.update({p: p for p in _PARAMS.values() if p != "params:entry"})
    return pipeline(template, namespace=f"exp.{name}", inputs=mapping, parameters=params)


def create_pipeline(**kwargs) -> Pipeline:
    names = entries()
    shared = pipeline([
        node(encode_random_contexts, ["rows", "windows", "schema", "params:pretrain", "params:windows",
                                      "params:datastore", "params:seed", "params:device"],
             ["datastore_random", "target_history_random"], name="encode_random_contexts"),
        node(retrieve_random_rows, ["rows", "params:retrieval", "params:seed"], "retrieved_random",
             name="retrieve_random_rows"),
        node(time_inference, [*SHARED, "params:experiments.inference_models",
                              "params:experiments.inference_requests", "params:experiments.inference_batch",
                              "params:windows", "params:retrieval", "params:device"],
             "inference_times", name="time_inference"),
        node(plot_inference, "inference_times", "inference_plot", name="plot_inference"),
    ])  # fmt: skip
    sweeps = pipeline([
        node(_bound(run_sweep, s), [*SHARED, "params:experiments.sweep_seeds",
                                    f"params:experiments.{SWEEP_VALUES[s]}", "params:windows",
                                    "params:pretrain", "params:datastore", "params:train", "params:dataset",
                                    "params:datasets", "params:task", "params:seed", "params:device"],
             f"sweep_{s}", name=f"run_{s}_sweep")
        for s in SWEEPS
    ] + [
        node(update_wrapper(partial(plot_sweep, xlabel=label), plot_sweep),
             [f"sweep_{s}", "params:dataset", "params:datasets", "params:task"],
             f"sweep_{s}_plot", name=f"plot_{s}_sweep")
        for s, label in SWEEPS.items() if s != "encoders"
    ])  # fmt: skip
    report_inputs = {"dataset": "params:dataset", "datasets": "params:datasets", "task": "params:task",
                     "seeds": "params:experiments.seeds", "sweep_seeds": "params:experiments.sweep_seeds",
                     "bootstrap": "params:experiments.bootstrap", "inference": "inference_times",
                     "sweeps": "experiment_sweeps"}  # fmt: skip
    for n in names:
        report_inputs[f"runs__{n}"] = f"exp.{n}.runs"
        report_inputs[f"scores__{n}"] = f"exp.{n}.test_scores"
    with warnings.catch_warnings():  # the report reads the namespaced outputs "exp.<entry>.*" on purpose
        warnings.filterwarnings("ignore", message="One or more dataset names contain")
        report = _report(report_inputs)
    models = sum((_template(n) for n in names), Pipeline([]))
    return (shared + models + sweeps + report).tag("experiments")


def _report(report_inputs: dict[str, str]) -> Pipeline:
    return pipeline([
        node(collect_sweeps, {s: f"sweep_{s}" for s in SWEEPS}, "experiment_sweeps", name="collect_sweeps"),
        node(update_wrapper(partial(write_experiments_report, ablations=list(ABLATIONS)),
                            write_experiments_report),
             report_inputs, ["experiments_report", "experiments_tables"],
             name="write_experiments_report"),
    ])  # fmt: skip
