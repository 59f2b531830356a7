"""Evaluation: metrics as pure functions on numpy arrays, and paired significance tests."""

from liftrec.recsys.evaluation.metrics import auc, logloss, topn_metrics, topn_per_group, topn_ranks
from liftrec.recsys.evaluation.significance import (
    TestResult,
    paired_bootstrap,
    paired_bootstrap_mean,
    paired_t_test,
    sign_flip_test,
)

__all__ = [
    "TestResult",
    "auc",
    "logloss",
    "paired_bootstrap",
    "paired_bootstrap_mean",
    "paired_t_test",
    "sign_flip_test",
    "topn_metrics",
    "topn_per_group",
    "topn_ranks",
]
