"""Figures of a run (Kedro layer): rendered with matplotlib's Agg backend, returned as PNG bytes.

The library (``liftrec.recsys``) stays free of matplotlib; the nodes of the evaluate stage call this
module and the catalog persists the bytes (``liftrec.datasets.ImageDataset``), which the MLflow hook
logs as an artifact of the stage's run.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot

import matplotlib.pyplot as plt  # noqa: E402

# (panel title, key of the per-epoch score curve, its axis label) per stage
_PANELS = (
    ("Encoder pretraining (mask-behaviour loss)", "curve.holdout_masked_auc", "held-out masked-label AUC"),
    ("Predictor training (BCE)", "curve.valid_auc", "validation AUC"),
)


def _curve(metrics: Mapping[str, Any], key: str) -> list[float]:
    values: Sequence[Any] = metrics.get(key) or []
    return [math.nan if v is None else float(v) for v in values]


def _panel(ax, metrics: Mapping[str, Any], title: str, score_key: str, score_label: str) -> None:
    loss, score = _curve(metrics, "curve.train_loss"), _curve(metrics, score_key)
    ax.set_title(title, fontsize=11)
    ax.set_xlabel("epoch")
    if not loss and not score:
        # e.g. pretraining disabled (LIFT w/o pretraining): say so instead of an empty frame
        ax.text(
            0.5, 0.5, "no curve recorded (stage disabled)", ha="center", va="center", transform=ax.transAxes
        )
        ax.set_xticks([])
        ax.set_yticks([])
        return
    epochs = range(1, max(len(loss), len(score)) + 1)
    ax.plot(epochs[: len(loss)], loss, "o-", color="tab:blue", label="train loss")
    ax.set_ylabel("train loss", color="tab:blue")
    ax.grid(alpha=0.3)
    right = ax.twinx()
    right.plot(epochs[: len(score)], score, "s-", color="tab:orange", label=score_label)
    right.set_ylabel(score_label, color="tab:orange")
    best = metrics.get("best_epoch")
    if isinstance(best, int) and best > 0:  # 1-based epoch whose weights were kept
        ax.axvline(best, color="grey", linestyle="--", linewidth=1, label=f"kept (epoch {best})")
    handles = ax.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    # below the axes, so it never hides a curve
    ax.legend(
        handles,
        [h.get_label() for h in handles],
        loc="upper center",
        bbox_to_anchor=(0.5, -0.16),
        ncol=3,
        fontsize=8,
        frameon=False,
    )
    ax.set_xticks(list(epochs))


def training_curves_png(pretrain_metrics: Mapping[str, Any], train_metrics: Mapping[str, Any]) -> bytes:
    """Render the per-epoch curves of encoder pretraining and predictor training side by side.

    Args:
        pretrain_metrics: the pretrain stage's metrics (``curve.train_loss``,
            ``curve.holdout_masked_auc``, ``best_epoch``; only ``pretrained`` when it was skipped).
        train_metrics: the train stage's metrics (``curve.train_loss``, ``curve.valid_auc``,
            ``best_epoch``).

    Returns:
        The figure as PNG bytes.
    """
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4), dpi=100)
    try:
        for ax, metrics, (title, score_key, score_label) in zip(
            axes, (pretrain_metrics, train_metrics), _PANELS, strict=True
        ):
            _panel(ax, metrics, title, score_key, score_label)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return buf.getvalue()
    finally:
        plt.close(fig)  # pyplot keeps figures alive otherwise


def _png(fig) -> bytes:
    try:
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return buf.getvalue()
    finally:
        plt.close(fig)


def sweep_png(points: Sequence[Mapping[str, Any]], metric: str, xlabel: str, title: str) -> bytes:
    """Test ``metric`` (mean over the sweep seeds, with min-max bars) against a swept parameter.

    Args:
        points: sweep points, each {"value", "seeds": {seed: {"test": {metric: v}}}}.
        metric: the metric to plot.
        xlabel: the parameter's axis label.
        title: the figure title.

    Returns:
        PNG bytes (an empty-axes figure saying so when there is no point).
    """
    fig, ax = plt.subplots(figsize=(5.5, 3.8), dpi=100)
    xs, mean, lo, hi = [], [], [], []
    for p in points:
        vals = [float(s["test"][metric]) for s in p["seeds"].values()]
        xs.append(p["value"])
        mean.append(sum(vals) / len(vals))
        lo.append(mean[-1] - min(vals))
        hi.append(max(vals) - mean[-1])
    if xs:
        ax.errorbar(range(len(xs)), mean, yerr=[lo, hi], marker="o", capsize=3)
        ax.set_xticks(range(len(xs)), [str(x) for x in xs])
    else:
        ax.text(0.5, 0.5, "no point", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"test {metric}")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    return _png(fig)


def inference_png(timings: Mapping[str, Any]) -> bytes:
    """Bars of milliseconds per 1,000 requests per model, retrieval precomputed vs online."""
    models = list(timings.get("models", {}))
    fig, ax = plt.subplots(figsize=(6, 3.8), dpi=100)
    width = 0.38
    for j, (key, label) in enumerate((("precomputed_ms_per_1k", "retrieval precomputed"),
                                      ("online_ms_per_1k", "retrieval online"))):  # fmt: skip
        vals = [timings["models"][m].get(key, math.nan) for m in models]
        ax.bar([i + (j - 0.5) * width for i in range(len(models))], vals, width, label=label)
    ax.set_xticks(range(len(models)), models)
    ax.set_ylabel("ms per 1,000 requests")
    ax.set_title(f"Inference time (batch {timings.get('batch')}, {timings.get('device')})", fontsize=10)
    ax.legend(fontsize=8, frameon=False)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)
