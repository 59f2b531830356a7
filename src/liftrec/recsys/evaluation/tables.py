"""Results tables from per-seed runs: mean ± std, best in bold, LIFT's relative improvement, significance.

Input: ``runs`` = {entry name: {"seeds": {seed: {"test": {metric: value}, ...}}, "skipped": bool}} as
written by :func:`liftrec.recsys.workflows.experiments.run_entry`, and the entries' test scores.
Significance between LIFT and the best baseline (by the primary metric's mean) is reported twice:
the paired t-test over seeds (n = number of seeds, as most papers do) and the paired bootstrap over
test candidate groups on the first seed's scores (resampling whole groups: a positive and its
negatives stay together), which has far more units than seeds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from liftrec.recsys.evaluation.metrics import auc, topn_metrics
from liftrec.recsys.evaluation.significance import paired_bootstrap, paired_t_test

CTR_METRICS = ("AUC", "LogLoss")
TOPN_METRICS = ("HR@1", "HR@5", "HR@10", "NDCG@5", "NDCG@10", "MRR")
LOWER_IS_BETTER = frozenset({"LogLoss"})


def primary_metric(task: str) -> str:
    """The metric that ranks models: AUC for CTR, NDCG@10 for top-N."""
    return "AUC" if task == "ctr" else "NDCG@10"


def metric_names(task: str) -> tuple[str, ...]:
    return CTR_METRICS if task == "ctr" else TOPN_METRICS


def summarise(runs: Mapping[str, Mapping[str, Any]], task: str, period: str = "test") -> dict[str, Any]:
    """Mean, std and per-seed values of every metric of every run that was not skipped."""
    out: dict[str, Any] = {}
    for name, run in runs.items():
        if run.get("skipped") or not run.get("seeds"):
            continue
        seeds = sorted(run["seeds"], key=int)
        row = {}
        for m in metric_names(task):
            vals = [float(run["seeds"][s][period][m]) for s in seeds]
            row[m] = {"mean": float(np.mean(vals)),
                      "std": float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0,
                      "seeds": dict(zip(seeds, vals, strict=True))}  # fmt: skip
        out[name] = row
    return out


def _best(summary: Mapping[str, Any], metric: str, names: Sequence[str]) -> str | None:
    if not names:
        return None
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    return max(names, key=lambda n: sign * summary[n][metric]["mean"])


def significance(
    summary: Mapping[str, Any],
    scores: Mapping[str, Mapping[str, np.ndarray]],
    task: str,
    ours: str,
    other: str,
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Paired t-test over seeds and paired bootstrap over test groups (first common seed), ours vs other."""
    metric = primary_metric(task)
    a, b = summary[ours][metric]["seeds"], summary[other][metric]["seeds"]
    common = [s for s in a if s in b]
    out: dict[str, Any] = {"metric": metric, "ours": ours, "other": other, "seeds": common}
    if len(common) >= 2:
        t = paired_t_test(np.array([a[s] for s in common]), np.array([b[s] for s in common]))
        out["t_test"] = {"diff": t.statistic, "p_value": t.p_value, "n": t.n}
    sa, sb = scores.get(ours, {}), scores.get(other, {})
    key = next((f"seed_{s}" for s in common if f"seed_{s}" in sa and f"seed_{s}" in sb), None)
    if key is not None and np.array_equal(sa["row_id"], sb["row_id"]):
        if task == "ctr":

            def fn(y, s, g):
                return auc(y, s)
        else:

            def fn(y, s, g):
                return topn_metrics(g, y, s)[metric]

        r = paired_bootstrap(fn, sa["label"], sa[key], sb[key], rng=np.random.default_rng(seed),
                             groups=sa["group_id"], n_boot=n_boot)  # fmt: skip
        out["bootstrap"] = {"seed": key, "diff": r.statistic, "p_value": r.p_value, "n_groups": r.n,
                            "ci": [r.ci_low, r.ci_high]}  # fmt: skip
    return out


def results_table(
    runs: Mapping[str, Mapping[str, Any]],
    scores: Mapping[str, Mapping[str, np.ndarray]],
    task: str,
    *,
    ours: str = "lift",
    baselines: Sequence[str] | None = None,
    title: str = "",
    n_boot: int = 1000,
) -> tuple[str, dict[str, Any]]:
    """A Markdown table (and its JSON) of test metrics: mean ± std over seeds, best in bold, the
    relative improvement of ``ours`` over each row, and the significance against the best baseline.

    Args:
        runs: per-entry runs (see the module docstring).
        scores: per-entry test scores ({"row_id", "label", "group_id", "seed_<s>"}).
        task: "ctr" or "topn".
        ours: the entry the improvements are computed for.
        baselines: the rows compared with ``ours`` (default: every other summarised entry).
        title: a heading.
        n_boot: bootstrap resamples.

    Returns:
        (markdown, json-able dict).
    """
    summary = summarise(runs, task)
    metrics = metric_names(task)
    names = list(summary)
    others = [n for n in (baselines if baselines is not None else names) if n in summary and n != ours]
    best = {m: _best(summary, m, names) for m in metrics}
    prim = primary_metric(task)
    lines = [f"## {title}", ""] if title else []
    head = ["model", *metrics] + ([f"{ours} vs row ({prim})"] if ours in summary else [])
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    improvements: dict[str, float] = {}
    for n in names:
        cells = [f"`{n}`"]
        for m in metrics:
            s = summary[n][m]
            cell = f"{s['mean']:.4f} ± {s['std']:.4f}"
            cells.append(f"**{cell}**" if best[m] == n else cell)
        if ours in summary:
            mine, theirs = summary[ours][prim]["mean"], summary[n][prim]["mean"]
            rel = (mine - theirs) / abs(theirs) * 100 if theirs else math.nan
            improvements[n] = rel
            cells.append("—" if n == ours else f"{rel:+.2f} %")
        lines.append("| " + " | ".join(cells) + " |")
    result: dict[str, Any] = {"task": task, "metrics": list(metrics), "summary": summary, "best": best,
                              "improvement_pct": improvements}  # fmt: skip
    best_base = _best(summary, prim, others)
    if ours in summary and best_base is not None:
        sig = significance(summary, scores, task, ours, best_base, n_boot=n_boot)
        result["significance"] = sig
        lines += ["", f"Best baseline by {prim}: `{best_base}`."]
        if "t_test" in sig:
            t = sig["t_test"]
            lines.append(f"Paired t-test over {t['n']} seeds: {ours} − {best_base} = {t['diff']:+.4f}, "
                         f"p = {t['p_value']:.3g}.")  # fmt: skip
        if "bootstrap" in sig:
            b = sig["bootstrap"]
            lines.append(f"Paired bootstrap over {b['n_groups']} test groups "
                         f"({b['seed']}, {n_boot} resamples): "
                         f"{b['diff']:+.4f}, 95 % CI [{b['ci'][0]:+.4f}, {b['ci'][1]:+.4f}], "
                         f"p = {b['p_value']:.3g}.")  # fmt: skip
    lines.append("")
    return "\n".join(lines), result


def _mean_std(seeds: Mapping[str, Any], metric: str) -> tuple[float, float, int]:
    vals = [float(s["test"][metric]) for s in seeds.values()]
    std = float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0
    return float(np.mean(vals)), std, len(vals)


def sweep_table(points: Sequence[Mapping[str, Any]], task: str, parameter: str, title: str) -> str:
    """Markdown: one row per sweep point, test metrics mean ± std over the sweep seeds."""
    metrics = metric_names(task)
    extra = [c for c in ("encoder", "pretrained") if points and c in points[0]]
    head = extra + [parameter] * (not extra) + list(metrics)
    lines = [f"## {title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for p in points:
        cells = [str(p[c]) for c in extra] or [str(p["value"])]
        for m in metrics:
            mean, std, n = _mean_std(p["seeds"], m)
            cells.append(f"{mean:.4f}" + (f" ± {std:.4f}" if n > 1 else ""))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines + [""])


def inference_table(timings: Mapping[str, Any]) -> str:
    """Markdown: milliseconds per 1,000 requests, retrieval precomputed vs online."""
    lines = ["## Inference time (ms per 1,000 requests)", "",
             f"{timings.get('requests')} test requests, batch {timings.get('batch')}, "
             f"device {timings.get('device')}; "
             f"BM25 index built once in {timings.get('index_seconds', 0):.2f} s (not counted).", "",
             "| model | retrieval precomputed | retrieval online | online / precomputed |",
             "|---|---|---|---|"]  # fmt: skip
    for name, t in timings.get("models", {}).items():
        pre, on = t["precomputed_ms_per_1k"], t.get("online_ms_per_1k")
        ratio = f"{on / pre:.2f}x" if on is not None and pre > 0 else "—"
        lines.append(f"| `{name}` | {pre:.1f} | {'—' if on is None else f'{on:.1f}'} | {ratio} |")
    return "\n".join(lines + [""])
