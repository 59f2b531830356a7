"""Thin nodes of the data stage: unpack parameters into library configs, call the library."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from liftrec.pipelines.params import build, section, task_of
from liftrec.recsys.data.loaders import LoaderConfig, load_raw
from liftrec.recsys.data.negatives import NegativeConfig, sample_negatives
from liftrec.recsys.data.sequences import WindowConfig, build_windows
from liftrec.recsys.data.split import SplitConfig, split_by_time
from liftrec.recsys.data.synthetic import SyntheticConfig, generate_synthetic
from liftrec.recsys.schema import LABEL, PERIOD, PERIODS, RETRIEVAL, Schema, target_mask


def ingest_interactions(
    dataset: str, raw_dir: str | None, ingest: dict[str, Any], synthetic: dict[str, Any], seed: int
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read the dataset's official raw files (or generate the synthetic default).

    Args:
        dataset: dataset name.
        raw_dir: folder of the raw files; None means ``data/01_raw/<dataset>``.
        ingest: LoaderConfig overrides.
        synthetic: SyntheticConfig overrides (synthetic only).
        seed: generator seed (synthetic only).

    Returns:
        The interactions table and its schema record.
    """
    if dataset == "synthetic":
        df, schema = generate_synthetic(build(SyntheticConfig, synthetic, "synthetic"), seed)
    else:
        df, schema = load_raw(
            dataset, Path(raw_dir or f"data/01_raw/{dataset}"), build(LoaderConfig, ingest, "ingest")
        )
    return df, schema.to_dict()


def split_interactions(
    interactions: pd.DataFrame,
    schema: dict[str, Any],
    dataset: str,
    datasets: dict[str, Any],
    split: dict[str, Any],
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Split by global time into retrieval / train / valid / test (dataset defaults under run overrides)."""
    cfg = build(SplitConfig, section(dataset, datasets, "split", split), "split")
    return split_by_time(interactions, cfg, Schema.from_dict(schema).time_unit)


def add_negatives(
    split_rows: pd.DataFrame,
    schema: dict[str, Any],
    dataset: str,
    datasets: dict[str, Any],
    task: str | None,
    negatives: dict[str, Any],
    seed: int,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Sample negatives per PROTOCOL.md and return the canonical ``rows`` table with its label balance."""
    cfg_dict = {
        **section(dataset, datasets, "negatives", negatives),
        "task": task_of(dataset, datasets, task),
    }
    rows = sample_negatives(
        split_rows, Schema.from_dict(schema), build(NegativeConfig, cfg_dict, "negatives"), seed
    )
    return rows, rows_metrics(rows)


def rows_metrics(rows: pd.DataFrame) -> dict[str, Any]:
    """Row counts, positive share and scored candidate groups per period."""
    out: dict[str, Any] = {"rows": int(len(rows))}
    period = rows[PERIOD].to_numpy()
    label = rows[LABEL].to_numpy()
    scored = target_mask(rows)
    for name, code in PERIODS.items():
        sel = period == code
        out[f"{name}.rows"] = int(sel.sum())
        out[f"{name}.positive_share"] = float(label[sel].mean()) if sel.any() else 0.0
        if code != RETRIEVAL:
            out[f"{name}.scored_groups"] = int(np.count_nonzero(sel & scored & (label == 1)))
    return out


def make_windows(rows: pd.DataFrame, windows: dict[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """History / future windows and pretraining subsequences as offset ranges into the history pool."""
    w = build_windows(rows, build(WindowConfig, windows, "windows"))
    n_fut = int(np.count_nonzero(w["fut_hi"] > w["fut_lo"]))
    metrics = {
        "pool_rows": int(len(w["pool_index"])),
        "pretrain_sequences": int(len(w["seq_lo"])),
        "mean_history_length": _mean_length(w["hist_lo"], w["hist_hi"]),
        # futures exist only for retrieval rows: average over the non-empty ones
        "mean_future_length_retrieval": _mean_length(w["fut_lo"], w["fut_hi"])
        * len(w["fut_lo"])
        / max(n_fut, 1),
    }
    return w, metrics


def _mean_length(lo: np.ndarray, hi: np.ndarray, chunk: int = 1 << 22) -> float:
    """Mean of ``hi - lo`` without materialising the difference (200 M rows: 1.6 GB saved)."""
    total = sum(int(hi[i : i + chunk].sum() - lo[i : i + chunk].sum()) for i in range(0, len(lo), chunk))
    return total / max(len(lo), 1)
