"""Resumable checkpoints are keyed by everything that determines a stage's result: parameters, seed and
the content of its inputs. A checkpoint left by a run on other data is never resumed."""

from __future__ import annotations

import numpy as np
import pandas as pd

from liftrec.pipelines.params import checkpoint_dir, data_fingerprint


def rows(n: int = 50, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {"row_id": np.arange(n), "item": rng.integers(1, 9, n), "label": rng.integers(0, 2, n)}
    )


def test_fingerprint_follows_content_not_identity():
    a, b = rows(), rows()
    assert data_fingerprint(a) == data_fingerprint(b)
    b.loc[7, "item"] += 1
    assert data_fingerprint(a) != data_fingerprint(b)
    arrays = {"pool_index": np.arange(5), "hist_lo": np.zeros(5, np.int64)}
    assert data_fingerprint(arrays) == data_fingerprint({k: v.copy() for k, v in arrays.items()})
    assert data_fingerprint(arrays) != data_fingerprint({**arrays, "hist_lo": np.ones(5, np.int64)})
    assert data_fingerprint({"dataset": "x", "fields": ["a"]}) != data_fingerprint(
        {"dataset": "y", "fields": ["a"]}
    )


def test_checkpoint_dir_changes_with_inputs_parameters_and_seed():
    params = {"pretrain": {"mask_ratio": 0.4}}
    base = checkpoint_dir("synthetic", "pretrain", params, 42, {"rows": rows()})
    assert base == checkpoint_dir("synthetic", "pretrain", params, 42, {"rows": rows()})
    # the reproduction: same stage parameters, other upstream data (a changed split or
    # mask ratio upstream re-created the inputs) -> another folder, so nothing stale is resumed
    assert base != checkpoint_dir("synthetic", "pretrain", params, 42, {"rows": rows(seed=1)})
    assert base != checkpoint_dir(
        "synthetic", "pretrain", {"pretrain": {"mask_ratio": 0.6}}, 42, {"rows": rows()}
    )
    assert base != checkpoint_dir("synthetic", "pretrain", params, 7, {"rows": rows()})
    assert base.parent.name == "checkpoints" and base.name.startswith("pretrain-")


def test_checkpoint_dir_changes_with_the_code(monkeypatch):
    from liftrec import caching
    from liftrec.recsys.workflows.pretrain import pretrain_encoder

    args = ("synthetic", "pretrain", {}, 42, {"rows": rows()})
    a = checkpoint_dir(*args, code=pretrain_encoder)
    assert a == checkpoint_dir(*args, code=pretrain_encoder)
    real = caching.module_digest
    monkeypatch.setattr(
        caching, "module_digest", lambda name: real(name) + ("x" if name.endswith("pretrainer") else "")
    )
    assert checkpoint_dir(*args, code=pretrain_encoder) != a  # an edit of the model's code
