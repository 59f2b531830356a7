"""Figures of the Kedro layer (src/liftrec/reporting.py)."""

from __future__ import annotations

import io

import matplotlib.image as mpimg

from liftrec.reporting import training_curves_png

PRETRAIN = {"pretrained": 1, "best_epoch": 2, "curve.train_loss": [0.7, 0.5, 0.45],
            "curve.holdout_masked_auc": [0.6, 0.8, 0.79]}  # fmt: skip
TRAIN = {"best_epoch": 1, "curve.train_loss": [0.69, 0.6], "curve.valid_auc": [0.62, None]}


def test_training_curves_are_a_png_of_both_stages():
    png = training_curves_png(PRETRAIN, TRAIN)
    assert png.startswith(b"\x89PNG")
    height, width, _ = mpimg.imread(io.BytesIO(png)).shape
    assert width > 2 * height  # two panels side by side


def test_a_disabled_pretraining_still_renders():
    assert training_curves_png({"pretrained": 0}, TRAIN).startswith(b"\x89PNG")
