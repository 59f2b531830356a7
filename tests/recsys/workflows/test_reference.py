"""The report's reference point: the popularity floor on the run's own valid / test targets."""

from __future__ import annotations

from liftrec.recsys.schema import PERIOD, TEST, VALID, target_mask
from liftrec.recsys.workflows.reference import popularity_reference, reference_markdown


def test_popularity_reference_scores_the_runs_targets(tiny_stages: dict) -> None:
    rows, schema = tiny_stages["rows"], tiny_stages["schema"]
    ref = popularity_reference(rows, schema, "ctr")
    scored = target_mask(rows)
    for name, code in (("valid", VALID), ("test", TEST)):
        assert ref[name]["rows"] == int((scored & (rows[PERIOD].to_numpy() == code)).sum())
        assert 0.5 < ref[name]["AUC"] <= 1.0  # uniform negatives: popularity alone ranks above chance
    metrics = {"task": "ctr", "test": {"AUC": 0.9, "LogLoss": 0.3, "rows": 10}}
    text = reference_markdown(metrics, ref, "lift")
    assert "## Reference points (test)" in text and "| pop (most popular" in text
    assert f"{0.9 - ref['test']['AUC']:+.4f} AUC" in text
