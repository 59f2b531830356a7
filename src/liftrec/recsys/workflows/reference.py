"""Reference points for a run's report: what the most-popular floor scores on the same targets.

A result means little without a floor: on a popularity-driven protocol (top-N with mostly uniform
negatives) a non-personalised ranker is a strong baseline. The floor is
:class:`~liftrec.recsys.models.pop.PopModel`, fitted on the retrieval and train periods and scored on
the same valid / test candidate groups as the run's model, with the same metrics (its calibration
is fitted on the validation groups, so its LogLoss is comparable too).
"""

from __future__ import annotations

from typing import Any, Literal

import pandas as pd

from liftrec.recsys.models.pop import PopConfig, PopModel
from liftrec.recsys.schema import GROUP_ID, LABEL, PERIOD, RETRIEVAL, ROW_ID, TEST, TRAIN, VALID, Schema
from liftrec.recsys.workflows.models import ModelData, require_targets, select_targets
from liftrec.recsys.workflows.predict import evaluate_predictions


def popularity_reference(rows: pd.DataFrame, schema: Schema, task: Literal["ctr", "topn"]) -> dict[str, Any]:
    """The popularity floor's metrics per evaluated period (the layout of ``evaluate_predictions``).

    Args:
        rows: the canonical rows table.
        schema: the dataset's schema.
        task: "ctr" or "topn".

    Returns:
        {"task", "valid": {...}, "test": {...}} for the model ``pop``.
    """
    data = ModelData(rows, schema)
    train = select_targets(data, (RETRIEVAL, TRAIN))
    require_targets(data, train, "train")
    valid = select_targets(data, (VALID,)).row_ids  # calibration rows: the scored groups' distribution
    model = PopModel(PopConfig(), data.context()).fit(
        data.X[train.row_ids], data.y[train.row_ids], data.X[valid], data.y[valid]
    )
    scored = select_targets(data, (VALID, TEST)).row_ids
    predictions = rows.iloc[scored][[ROW_ID, GROUP_ID, PERIOD, LABEL]].reset_index(drop=True)
    predictions["score"] = model.predict_proba(data.X[scored])
    return evaluate_predictions(predictions, task)


def reference_markdown(metrics: dict[str, Any], reference: dict[str, Any], model: str = "lift") -> str:
    """A "Reference points" section: the run's test metrics beside the popularity floor's, and how to
    read them.

    Args:
        metrics: the run's ``evaluate_predictions`` output.
        reference: :func:`popularity_reference`'s output.
        model: the run's model name.
    """
    if "test" not in metrics or "test" not in reference:
        return ""
    keys = [k for k in metrics["test"] if k != "rows"]
    lines = [
        "## Reference points (test)",
        "",
        "| model | " + " | ".join(keys) + " |",
        "|---|" + "---|" * len(keys),
    ]
    for name, m in ((model, metrics["test"]), ("pop (most popular, retrieval + train)", reference["test"])):
        lines.append(f"| {name} | " + " | ".join(f"{m[k]:.4f}" for k in keys) + " |")
    main = "NDCG@10" if "NDCG@10" in keys else "AUC"
    gap = metrics["test"][main] - reference["test"][main]
    lines += [
        "",
        f"How to read this: `pop` ranks every candidate by its item's number of real interactions before "
        f"the validation period, the same for every user; a model that does not clear it has learned "
        f"nothing beyond popularity. Here {model} is {gap:+.4f} {main} from that floor.",
        "",
    ]
    return "\n".join(lines)
