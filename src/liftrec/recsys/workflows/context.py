"""Stages 3-4: the offline datastore (encoded contexts) and BM25 retrieval for every target."""

from __future__ import annotations

import logging
import time
from typing import Any, Literal

import numpy as np
import pandas as pd

from liftrec.recsys.config import check
from liftrec.recsys.errors import ConfigError
from liftrec.recsys.retrieval.bm25 import BM25Config, make_retriever
from liftrec.recsys.retrieval.datastore import DatastoreConfig, build_datastore, encode_rows
from liftrec.recsys.schema import LABEL, PERIOD, RETRIEVAL, ROW_ID, TS, USER_ID, Schema, target_mask

logger = logging.getLogger(__name__)


def encode_contexts(
    encoder,
    rows: pd.DataFrame,
    windows: dict[str, np.ndarray],
    schema: Schema,
    length: int,
    cfg: DatastoreConfig,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, Any]]:
    """Encode every retrieval row's history and future, and every target's own history, once.

    Returns:
        The datastore arrays (row_ids, hist, fut), the targets' own-history arrays (row_ids, hist)
        and metrics.
    """
    t0 = time.perf_counter()
    store = build_datastore(encoder, rows, windows, schema, length, cfg)
    targets = np.flatnonzero(target_mask(rows)).astype(np.int64)
    own = encode_rows(encoder, rows, windows, schema, targets, length, cfg, which="hist")
    seconds = time.perf_counter() - t0
    n = len(store.row_ids) * 2 + len(targets)
    metrics = {"retrieval_rows": len(store.row_ids), "targets": len(targets), "seconds": seconds,
               "windows_per_s": n / max(seconds, 1e-9), "dtype": cfg.dtype}  # fmt: skip
    datastore = {
        "row_ids": np.asarray(store.row_ids),
        "hist": np.asarray(store.hist),
        "fut": np.asarray(store.fut),
    }
    return datastore, {"row_ids": targets, "hist": own}, metrics


def indexed_rows(
    rows: pd.DataFrame, windows: dict[str, np.ndarray] | None, min_future: int = 0
) -> np.ndarray:
    """(N,) bool: the rows BM25 may return, i.e. retrieval-period rows with a future of >= ``min_future``.

    Raises:
        ConfigError: when ``min_future`` > 0 and the windows are missing or do not cover the rows.
    """
    ret = rows[PERIOD].to_numpy() == RETRIEVAL
    if min_future > 0:
        if windows is None:
            raise ConfigError("parameter 'retrieval.min_future': needs the windows")
        fut_len = np.asarray(windows["fut_hi"]) - np.asarray(windows["fut_lo"])  # per row
        if len(fut_len) != len(rows):
            raise ConfigError("parameter 'retrieval.min_future': windows do not cover the rows table")
        ret = ret & (fut_len >= min_future)
    return ret


def neighbour_metrics(
    rows: pd.DataFrame, retrieved: np.ndarray, windows: dict[str, np.ndarray] | None = None
) -> dict[str, float]:
    """Where in time the retrieved rows sit and how full their futures are, next to a random row.

    Ties of BM25 decide most neighbours; a rule that favours late rows shows here as a high ts
    quantile and few future interactions (the retrieval period's end cuts late rows' futures).

    Args:
        rows: canonical rows table.
        retrieved: (Q, K) retrieved row ids, -1 = none.
        windows: ``build_windows``' output; without it only the ts figures are returned.

    Returns:
        ``neighbour_ts_quantile`` (mean) and its ``_p10`` / ``_p50`` / ``_p90``: a retrieved row's ts
        as a mid-rank quantile among the retrieval period's rows (0 first, 1 last, a random row 0.5);
        with windows, ``mean_future_positives``: real (label 1) interactions in a retrieved row's
        future window, ``baseline_future_positives``: the same for a random retrieval-period row
        with a non-empty future, their ``future_positives_ratio`` and ``neighbour_no_future``: the
        share of retrieved rows with an empty future. Empty when nothing was retrieved.
    """
    found = retrieved[retrieved >= 0]
    if found.size == 0:
        return {}
    ids = rows[ROW_ID].to_numpy(np.int64)
    if np.array_equal(ids, np.arange(len(ids))):  # the canonical contract: row_id = position
        pos = found
    else:
        by_id = np.argsort(ids)
        pos = by_id[np.searchsorted(ids, found, sorter=by_id)]
    ts = rows[TS].to_numpy(np.int64)
    period = rows[PERIOD].to_numpy() == RETRIEVAL
    ret_ts = np.sort(ts[period])
    t = ts[pos]
    # mid-rank, so equal timestamps share one quantile and a random row averages exactly 0.5
    quant = (np.searchsorted(ret_ts, t, "left") + np.searchsorted(ret_ts, t, "right")) / (2 * len(ret_ts))
    p10, p50, p90 = np.quantile(quant, [0.1, 0.5, 0.9])
    out = {"neighbour_ts_quantile": float(quant.mean()), "neighbour_ts_quantile_p10": float(p10),
           "neighbour_ts_quantile_p50": float(p50), "neighbour_ts_quantile_p90": float(p90)}  # fmt: skip
    if windows is None or len(windows["fut_lo"]) != len(rows):
        return out
    lo, hi = np.asarray(windows["fut_lo"]), np.asarray(windows["fut_hi"])
    real = rows[LABEL].to_numpy()[np.asarray(windows["pool_index"])] == 1  # pool ids are positions
    cum = np.concatenate([[0], np.cumsum(real, dtype=np.int64)])
    fut_pos = cum[hi] - cum[lo]  # (N,) real interactions in each row's future
    with_future = period & (hi > lo)
    mean, base = float(fut_pos[pos].mean()), float(fut_pos[with_future].mean()) if with_future.any() else 0.0
    out.update(mean_future_positives=mean, baseline_future_positives=base,
               future_positives_ratio=mean / base if base > 0 else 0.0,
               neighbour_no_future=float((hi[pos] == lo[pos]).mean()))  # fmt: skip
    return out


def retrieve_for_targets(
    rows: pd.DataFrame,
    schema: Schema,
    cfg: BM25Config,
    *,
    engine: Literal["engine", "oracle"] = "engine",
    query_fields: tuple[str, ...] | None = None,
    windows: dict[str, np.ndarray] | None = None,
    min_future: int = 0,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Top-K retrieval-set rows for every train / valid / test row (the paper's offline retrieval).

    Args:
        rows: canonical rows table.
        schema: names the fields; its query fields are the default.
        cfg: BM25 parameters.
        engine: the fast engine, or the rank-bm25 oracle (slow; for checks).
        query_fields: fields forming the query (default ``schema.query_fields``).
        windows: ``build_windows``' output (needed when ``min_future`` > 0).
        min_future: only retrieval rows whose future window holds at least this many interactions
            are indexed (0: every retrieval row, the paper). Under ``cfg.tie_break="latest"`` ties
            favour the latest rows, whose futures the end of the retrieval period cuts short; this
            keeps neighbours with a future.

    Returns:
        {"target_ids" (Q,), "row_ids" (Q, K), "scores" (Q, K)} and metrics, including
        :func:`neighbour_metrics` (the neighbours' position in time and future interactions).

    Raises:
        ConfigError: when a query field is not in the dataset or K exceeds the retrieval set.
    """
    fields = tuple(query_fields or schema.query_fields)
    missing = [f for f in fields if f not in schema.fields]
    if missing:
        raise ConfigError(
            f"parameter 'retrieval.query_fields': {missing} not in the dataset's fields {list(schema.fields)}"
        )
    ret = indexed_rows(rows, windows, min_future)
    n_ret = int(ret.sum())
    check(
        cfg.k <= n_ret,
        "retrieval.k",
        f"K = {cfg.k} exceeds the retrieval set ({n_ret} rows"
        + (f" with a future of >= {min_future}" if min_future else "")
        + ")",
    )
    keys = rows[list(fields)].to_numpy(np.int64)
    ids, users, ts = (rows[c].to_numpy(np.int64) for c in (ROW_ID, USER_ID, TS))
    t0 = time.perf_counter()
    index = make_retriever(engine, keys[ret], ids[ret], users[ret], ts[ret], cfg)
    built = time.perf_counter() - t0
    tgt = target_mask(rows)
    t1 = time.perf_counter()
    res = index.search(keys[tgt], query_users=users[tgt], max_ts=ts[tgt])
    seconds = time.perf_counter() - t1
    found = res.row_ids >= 0
    metrics = {
        "targets": int(tgt.sum()), "retrieval_rows": n_ret, "k": cfg.k, "min_future": min_future,
        "index_seconds": built,
        "search_seconds": seconds, "queries_per_s": int(tgt.sum()) / max(seconds, 1e-9),
        "mean_found": float(found.sum(axis=1).mean()) if len(found) else 0.0,
        "mean_top1_score": float(res.scores[found[:, 0], 0].mean()) if found[:, 0].any() else 0.0,
        "tie_break": cfg.tie_break,
    }  # fmt: skip
    metrics.update(neighbour_metrics(rows, res.row_ids, windows))
    logger.info("retrieval: %d queries at %.0f q/s", metrics["targets"], metrics["queries_per_s"])
    return {"target_ids": ids[tgt], "row_ids": res.row_ids, "scores": res.scores}, metrics
