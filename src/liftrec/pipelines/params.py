"""Parameters -> typed library configs, in one place, for the nodes and for validation before a run.

Per-dataset defaults (``datasets.<name>``) are merged under the run's top-level overrides, so
``--params=split.mode=quantiles`` works for any dataset. Every builder raises ConfigError naming
the dotted parameter at fault.
"""

from __future__ import annotations

import copy
from typing import Any

from liftrec.recsys.config import did_you_mean, from_dict
from liftrec.recsys.errors import ConfigError


def deep_merge(base: dict[str, Any] | None, override: dict[str, Any] | None) -> dict[str, Any]:
    """``base`` updated recursively with ``override`` (neither is modified)."""
    out = copy.deepcopy(base or {})
    for k, v in (override or {}).items():
        out[k] = (
            deep_merge(out[k], v)
            if isinstance(v, dict) and isinstance(out.get(k), dict)
            else copy.deepcopy(v)
        )
    return out


def dataset_profile(dataset: str, datasets: dict[str, Any]) -> dict[str, Any]:
    """The ``datasets.<name>`` entry, or a ConfigError listing the known dataset names."""
    if dataset not in datasets:
        raise ConfigError(
            f"parameter 'dataset': unknown dataset {dataset!r}; known: {sorted(datasets)}"
            + did_you_mean(dataset, datasets)
        )
    return datasets[dataset] or {}


def task_of(dataset: str, datasets: dict[str, Any], task: str | None) -> str:
    """The run's task: the ``task`` parameter when set, else the dataset's."""
    t = task or dataset_profile(dataset, datasets).get("task", "ctr")
    if t not in ("ctr", "topn"):
        raise ConfigError(f"parameter 'task': expected 'ctr' or 'topn', got {t!r}")
    return t


def section(
    dataset: str, datasets: dict[str, Any], name: str, override: dict[str, Any] | None
) -> dict[str, Any]:
    """Merge ``datasets.<dataset>.<name>`` with the top-level ``<name>`` override mapping."""
    return deep_merge(dataset_profile(dataset, datasets).get(name), override)


def build(cls: type, d: dict[str, Any] | None, path: str):
    """``from_dict`` with the dotted parameter path used in messages."""
    return from_dict(cls, d or {}, path)


def validate_parameters(params: dict[str, Any], stages: set[str] | None = None) -> None:
    """Build every stage's typed config from the run's parameters; raise ConfigError on the first problem.

    Called by a hook before any node runs, so a typo or an out-of-range value costs no work.

    Args:
        params: the run's parameters.
        stages: the stage tags of the nodes about to run; the validators of ``_PIPELINE_VALIDATORS``
            run only when their pipeline is among them (None: every validator).
    """
    from liftrec.recsys.data.loaders import LoaderConfig
    from liftrec.recsys.data.negatives import NegativeConfig
    from liftrec.recsys.data.sequences import WindowConfig
    from liftrec.recsys.data.split import SplitConfig
    from liftrec.recsys.data.synthetic import SyntheticConfig

    cache = params.get("cache", True)
    if not isinstance(cache, bool):
        raise ConfigError(f"parameter 'cache': expected true or false, got {cache!r}")
    seed = params.get("seed", 42)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise ConfigError(f"parameter 'seed': expected an integer in [0, 2**32), got {seed!r}")
    dataset = params.get("dataset")
    datasets = params.get("datasets") or {}
    dataset_profile(dataset, datasets)
    task = task_of(dataset, datasets, params.get("task"))
    loader_cfg = build(LoaderConfig, params.get("ingest"), "ingest")
    if dataset != "synthetic":
        from liftrec.recsys.data.loaders import check_fields

        check_fields(dataset, loader_cfg)
    build(SyntheticConfig, params.get("synthetic"), "synthetic")
    build(SplitConfig, section(dataset, datasets, "split", params.get("split")), "split")
    build(
        NegativeConfig,
        {**section(dataset, datasets, "negatives", params.get("negatives")), "task": task},
        "negatives",
    )
    build(WindowConfig, params.get("windows"), "windows")
    for hook in _STAGE_VALIDATORS:
        hook(params)
    for stage, hook in _PIPELINE_VALIDATORS.items():
        if stages is None or stage in stages:
            hook(params)
    # last: every parameter is checked first, and a test of them needs no raw files
    if dataset != "synthetic" and (stages is None or "data_processing" in stages):
        from liftrec.recsys.data.loaders import check_raw_dir
        from liftrec.recsys.errors import DataError

        raw_dir = params.get("raw_dir") or f"data/01_raw/{dataset}"
        try:
            check_raw_dir(dataset, raw_dir)
        except DataError as e:
            raise ConfigError(f"parameter 'raw_dir': {e}") from None


# Later stages register their validators here (see each stage's params builder).
_STAGE_VALIDATORS: list = []
# Parameters read by one optional pipeline only (its tag -> validator): checked when its nodes run,
# so e.g. a default run with retrieval.k below experiments.k_values is not refused.
_PIPELINE_VALIDATORS: dict = {}


def retrieval_config(retrieval: dict[str, Any] | None):
    """Split ``retrieval.*`` into the BM25 config, the implementation, the query fields (None, "all" or a
    tuple: :func:`~liftrec.recsys.schema.query_fields_of` resolves them) and ``min_future``."""
    from liftrec.recsys.retrieval.bm25 import BM25Config

    d = dict(retrieval or {})
    engine = d.pop("engine", "engine")
    if engine not in ("engine", "oracle"):
        raise ConfigError(f"parameter 'retrieval.engine': expected 'engine' or 'oracle', got {engine!r}")
    query_fields = d.pop("query_fields", None)
    min_future = d.pop("min_future", 0)
    if not isinstance(min_future, int) or isinstance(min_future, bool) or min_future < 0:
        raise ConfigError(f"parameter 'retrieval.min_future': expected an integer >= 0, got {min_future!r}")
    if query_fields not in (None, "all") and (not isinstance(query_fields, list) or not query_fields):
        raise ConfigError(
            "parameter 'retrieval.query_fields': expected null, 'all' or a non-empty list, "
            f"got {query_fields!r}"
        )
    fields = query_fields if query_fields in (None, "all") else tuple(query_fields)
    return build(BM25Config, d, "retrieval"), engine, fields, min_future


def data_fingerprint(value: Any) -> str:
    """A content hash of a stage input: a table, a dict of arrays, an array or plain parameters.

    blake2b over the raw bytes (about 1 GB/s): a 200 M-row table costs seconds, nothing beside the
    hours a stale checkpoint could cost.
    """
    import hashlib
    import json

    import numpy as np
    import pandas as pd

    h = hashlib.blake2b(digest_size=16)

    def feed(v: Any) -> None:
        if isinstance(v, pd.DataFrame):
            for c in v.columns:
                h.update(f"col:{c}:{v[c].dtype}".encode())
                feed(v[c].to_numpy())
        elif isinstance(v, np.ndarray):
            h.update(f"arr:{v.dtype}:{v.shape}".encode())
            h.update(memoryview(np.ascontiguousarray(v)).cast("B"))
        elif isinstance(v, dict) and any(isinstance(x, (np.ndarray, pd.DataFrame)) for x in v.values()):
            for k in sorted(v):
                h.update(f"key:{k}".encode())
                feed(v[k])
        else:
            h.update(json.dumps(v, sort_keys=True, default=str).encode())

    feed(value)
    return h.hexdigest()


def checkpoint_dir(
    dataset: str, stage: str, params: dict[str, Any], seed: int, inputs: dict[str, Any], code: Any = None
):
    """Where a training stage keeps its resumable checkpoint: keyed by the parameters it depends on, the
    content of its inputs, the code it runs (``code``: the library function, whose module closure's
    sources are hashed as the node cache does) and the seed, so a checkpoint trained on other data,
    parameters or code is never resumed (an interrupted run on changed inputs starts fresh)."""
    import hashlib
    import json
    from pathlib import Path

    from liftrec.caching import code_parts

    fingerprints = {name: data_fingerprint(v) for name, v in sorted(inputs.items())}
    source = code_parts(code) if code is not None else None
    blob = json.dumps([params, seed, fingerprints, source], sort_keys=True, default=str).encode()
    key = hashlib.sha256(blob).hexdigest()[:12]
    return Path("data/06_models") / dataset / "checkpoints" / f"{stage}-{key}"


def _dataset_fields(params: dict[str, Any]) -> tuple[str, ...] | None:
    """The fields the run's dataset will have, known before ingestion (None when unknown)."""
    dataset = params.get("dataset")
    if dataset == "synthetic":
        from liftrec.recsys.data.synthetic import FIELDS

        return FIELDS
    from liftrec.recsys.data.loaders import dataset_spec

    fields = (params.get("ingest") or {}).get("fields")
    return tuple(fields) if fields else dataset_spec(dataset).default_fields


def _validate_model_stages(params: dict[str, Any]) -> None:
    from liftrec.pipelines.pretrain.nodes import pretrain_params
    from liftrec.pipelines.train.nodes import predictor_params
    from liftrec.recsys.retrieval.datastore import DatastoreConfig
    from liftrec.recsys.training.device import resolve_device
    from liftrec.recsys.workflows.predict import PredictorStageConfig
    from liftrec.recsys.workflows.pretrain import PretrainStageConfig

    device = params.get("device", "auto")
    resolve_device(device)  # its errors name the parameter
    pre = build(PretrainStageConfig, pretrain_params(params.get("pretrain") or {}, device), "pretrain")
    length = (params.get("windows") or {}).get("length", 20)
    if pre.encoder.max_len < length:
        raise ConfigError(
            f"parameter 'pretrain.encoder.max_len': {pre.encoder.max_len} is shorter than "
            f"windows.length = {length}"
        )
    build(DatastoreConfig, {"device": device, **(params.get("datastore") or {})}, "datastore")
    _, _, query_fields, _ = retrieval_config(params.get("retrieval"))
    known = _dataset_fields(params)
    nf = pre.next_field
    if nf not in (None, "auto") and known is not None and nf not in known:
        raise ConfigError(f"parameter 'pretrain.next_field': '{nf}' is not among the fields of "
                          f"{params.get('dataset')}: {list(known)}")  # fmt: skip
    if query_fields not in (None, "all") and known is not None:
        missing = [f for f in query_fields if f not in known]
        if missing:
            raise ConfigError(
                f"parameter 'retrieval.query_fields': {missing} not among the fields of "
                f"{params.get('dataset')}: {list(known)}"
            )
    predictor = build(PredictorStageConfig, predictor_params(params.get("train") or {}, device), "train")
    from liftrec.recsys.models.registry import MODELS

    if predictor.model not in MODELS:
        raise ConfigError(
            f"parameter 'train.model': unknown model {predictor.model!r}; known: {sorted(MODELS)}"
        )


_STAGE_VALIDATORS.append(_validate_model_stages)


def _validate_experiments(params: dict[str, Any]) -> None:
    from liftrec.pipelines.experiments.params import validate_experiments

    validate_experiments(params)


_PIPELINE_VALIDATORS["experiments"] = _validate_experiments
