"""Retrieval-based baselines: RIM (retrieved rows of other users), SIM and UBR4CTR (selected own history).

``contract_batch_<name>() -> (cfg_dict, context, batch)`` (collected in ``CONTRACT_BATCHES``) are the
factories for the registry contract tests.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

import liftrec.recsys.models.rim  # noqa: F401  (registers)
import liftrec.recsys.models.sim  # noqa: F401
import liftrec.recsys.models.ubr4ctr  # noqa: F401
from liftrec.recsys.data.history_select import field_idf, select_histories
from liftrec.recsys.data.sequences import WindowConfig, build_windows
from liftrec.recsys.errors import ConfigError
from liftrec.recsys.models.batch import history_batch
from liftrec.recsys.models.registry import MODELS, build_model
from liftrec.recsys.schema import LABEL, PERIOD, RETRIEVAL, ROW_ID, TS, USER_ID

CARD = (6, 9, 5, 4)  # user, item, category, behaviour
ITEM, CAT, BEH = 1, 2, 3
B, L, K = 16, 5, 4
Batch = dict[str, torch.Tensor]


def _fields(g: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.stack([torch.randint(1, c, shape, generator=g) for c in CARD], -1)


def _left_padded(n: int) -> torch.Tensor:
    lengths = torch.arange(B) % (n + 1)  # (B,), row 0 has nothing
    return torch.arange(n).unsqueeze(0) >= (n - lengths).unsqueeze(1)  # (B, n)


def _hist_batch(seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    valid = _left_padded(L)
    return {
        "x": _fields(g, B),
        "label": torch.randint(0, 2, (B,), generator=g).float(),
        "hist": _fields(g, B, L) * valid.unsqueeze(-1),
        "hist_label": torch.randint(0, 2, (B, L), generator=g) * valid,
        "hist_valid": valid,
    }


def _keys_batch(seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    valid = _left_padded(K).flip(1)  # retrieved rows come first, -1 (invalid) at the end
    return {
        "x": _fields(g, B),
        "label": torch.randint(0, 2, (B,), generator=g).float(),
        "keys": _fields(g, B, K) * valid.unsqueeze(-1),
        "key_label": torch.randint(0, 2, (B, K), generator=g) * valid,
        "key_valid": valid,
    }


def _small(**extra: Any) -> dict[str, Any]:
    return {"field_dim": 4, "mlp": [32, 16], "dropout": 0.0, **extra}


def contract_batch_rim() -> tuple[dict[str, Any], dict[str, Any], Batch]:
    return _small(), {"cardinalities": CARD}, _keys_batch()


def contract_batch_sim() -> tuple[dict[str, Any], dict[str, Any], Batch]:
    return _small(attention_mlp=[8]), {"cardinalities": CARD}, _hist_batch()


def contract_batch_ubr4ctr() -> tuple[dict[str, Any], dict[str, Any], Batch]:
    return _small(attention_mlp=[8]), {"cardinalities": CARD}, _hist_batch()


CONTRACT_BATCHES = {"rim": contract_batch_rim, "sim": contract_batch_sim, "ubr4ctr": contract_batch_ubr4ctr}
NAMES = sorted(CONTRACT_BATCHES)
FULL_CONTEXT = {"cardinalities": CARD, "seq_len": L, "item_field_index": ITEM, "seed": 0, "encoder_dim": 3}
SEQ = {"keys": ("keys", "key_label", "key_valid"), "hist": ("hist", "hist_label", "hist_valid")}


def _setup(name: str, **cfg_extra: Any) -> tuple[torch.nn.Module, Batch]:
    cfg, context, batch = CONTRACT_BATCHES[name]()
    torch.manual_seed(0)
    return build_model(name, {**cfg, **cfg_extra}, **context), batch


def _group(name: str) -> tuple[str, str, str]:
    return SEQ["keys"] if "keys" in MODELS[name].inputs else SEQ["hist"]


def test_declared_inputs_and_selection() -> None:
    assert MODELS["rim"].inputs == {"x", "keys"}
    assert MODELS["sim"].inputs == {"x", "hist"} and MODELS["sim"].history_selection == "category"
    assert MODELS["ubr4ctr"].inputs == {"x", "hist"} and MODELS["ubr4ctr"].history_selection == "bm25"


# the generic checks (finite loss, gradients, overfitting, state-dict round trip, config typo) are
# in test_registry_contract.py, on CONTRACT_BATCHES; here only what it does not check


@pytest.mark.parametrize("name", NAMES)
def test_output_shapes(name: str) -> None:
    model, batch = _setup(name)
    assert model(batch).shape == (B,)
    p = model.eval().predict(batch)
    assert p.shape == (B,) and ((p > 0) & (p < 1)).all()


@pytest.mark.parametrize("name", NAMES)
def test_empty_history_or_retrieval_gives_finite_output(name: str) -> None:
    model, batch = _setup(name)
    rows, labels, valid = _group(name)
    empty = {**batch, rows: torch.zeros_like(batch[rows]), labels: torch.zeros_like(batch[labels]),
             valid: torch.zeros_like(batch[valid])}  # fmt: skip
    for mode in (model.train(), model.eval()):
        assert torch.isfinite(mode(empty)).all()
        loss = mode.loss(empty)
        assert torch.isfinite(loss)
        loss.backward()
        assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


@pytest.mark.parametrize("name", NAMES)
def test_padded_positions_are_ignored_and_the_target_label_never_read(name: str) -> None:
    model, batch = _setup(name)
    model.eval()
    rows, labels, valid = _group(name)
    v = batch[valid]
    g = torch.Generator().manual_seed(7)
    noisy = {**batch, rows: torch.where(v.unsqueeze(-1), batch[rows], _fields(g, *v.shape)),
             labels: torch.where(v, batch[labels], torch.ones_like(batch[labels]))}  # fmt: skip
    torch.testing.assert_close(model(noisy), model(batch), rtol=1e-5, atol=1e-6)
    flipped = {**batch, "label": 1.0 - batch["label"]}
    torch.testing.assert_close(model(flipped), model(batch), rtol=0, atol=0)


@pytest.mark.parametrize("name", NAMES)
def test_builds_with_defaults_from_the_uniform_context(name: str) -> None:
    model = build_model(name, None, **FULL_CONTEXT)
    _, _, batch = CONTRACT_BATCHES[name]()
    assert torch.isfinite(model.eval()(batch)).all() and torch.isfinite(model.train().loss(batch))


def test_selection_parameters_are_checked() -> None:
    with pytest.raises(ConfigError, match="sim.max_candidates"):
        build_model("sim", {"max_candidates": 0}, **FULL_CONTEXT)
    with pytest.raises(ConfigError, match="ubr4ctr.idf"):
        build_model("ubr4ctr", {"idf": "bm42"}, **FULL_CONTEXT)


# ---- one behavioural test per model ----


def test_rim_attention_aggregates_rows_and_labels_and_labels_matter() -> None:
    model, batch = _setup("rim")
    model.eval()
    x, x_r, y_r, alpha = model.aggregate(batch)
    valid = batch["key_valid"]
    assert (alpha[~valid] == 0).all() and (alpha[~valid.any(1)] == 0).all()
    torch.testing.assert_close(alpha[valid.any(1)].sum(-1), torch.ones(int(valid.any(1).sum())))
    one = valid.sum(1) == 1  # a single retrieved row: x_r is its embedding, y_r its label's
    assert one.any()
    torch.testing.assert_close(x_r[one], model._embed(batch["keys"][one, 0]))
    torch.testing.assert_close(y_r[one], model.label_emb(batch["key_label"][one, 0]))
    # the retrieved rows' labels are an input (RIM's label aggregation): flipping a valid one matters
    flipped = {**batch, "key_label": torch.where(valid, 1 - batch["key_label"], batch["key_label"])}
    diff = (model(flipped) - model(batch)).abs()
    assert (diff[valid.any(1)] > 0).all() and (diff[~valid.any(1)] == 0).all()


def _own_history_table() -> tuple[pd.DataFrame, np.ndarray, dict[str, np.ndarray]]:
    """One user, 12 rows at ts 0..11 (the target is row 11), fields as CARD."""
    g = np.random.default_rng(0)
    n = 12
    X = np.stack(
        [np.ones(n, int), g.integers(1, CARD[1], n), g.integers(1, CARD[2], n), g.integers(1, CARD[3], n)], 1
    )
    label, period = g.integers(0, 2, n).astype(np.int8), np.full(n, RETRIEVAL, np.int8)
    rows = pd.DataFrame(
        {ROW_ID: np.arange(n), USER_ID: np.ones(n, int), TS: np.arange(n), LABEL: label, PERIOD: period}
    )
    return rows, X.astype(np.int64), build_windows(rows, WindowConfig(length=3, retrieval_pool="all"))


def _score(model: torch.nn.Module, X: np.ndarray, y: np.ndarray, hist_rows: np.ndarray) -> torch.Tensor:
    batch = {k: torch.from_numpy(v) for k, v in history_batch(hist_rows, X, y).items()}
    return model.eval()({**batch, "x": torch.from_numpy(X[[11]])})


def test_sim_reads_only_rows_of_the_target_category() -> None:
    rows, X, windows = _own_history_table()
    y, users, t = rows[LABEL].to_numpy(), rows[USER_ID].to_numpy(), np.array([11])
    X[[2, 5, 9], CAT] = X[11, CAT]
    X[[0, 1, 3, 4, 6, 7, 8, 10], CAT] = X[11, CAT] % (CARD[CAT] - 1) + 1  # every other row: another category
    model, _ = _setup("sim")
    sel = select_histories(X, users, windows, t, mode="category", length=L, field_index=CAT)
    assert sel.tolist() == [[-1, -1, 2, 5, 9]]
    before = _score(model, X, y, sel)
    other = [0, 1, 3, 4, 6, 7, 8, 10]
    X2 = X.copy()
    X2[other, ITEM] = X2[other, ITEM] % (CARD[ITEM] - 1) + 1  # change every other-category row
    sel2 = select_histories(X2, users, windows, t, mode="category", length=L, field_index=CAT)
    torch.testing.assert_close(_score(model, X2, y, sel2), before, rtol=0, atol=0)
    X3 = X.copy()
    X3[5, ITEM] = X3[5, ITEM] % (CARD[ITEM] - 1) + 1  # change a same-category row: it is read
    sel3 = select_histories(X3, users, windows, t, mode="category", length=L, field_index=CAT)
    assert not torch.equal(_score(model, X3, y, sel3), before)


def test_ubr4ctr_reads_the_bm25_top_rows_only() -> None:
    rows, X, windows = _own_history_table()
    y, users, t = rows[LABEL].to_numpy(), rows[USER_ID].to_numpy(), np.array([11])
    qcols = [ITEM, CAT]
    X[[1, 4], ITEM] = X[11, ITEM]  # rows 1, 4 share the target's item: the highest BM25 scores
    rest = [0, 2, 3, 5, 6, 7, 8, 9, 10]
    X[rest, ITEM] = X[11, ITEM] % (CARD[ITEM] - 1) + 1
    X[[1, 4, 7], CAT] = X[11, CAT]
    X[[0, 2, 3, 5, 6, 8, 9, 10], CAT] = X[11, CAT] % (CARD[CAT] - 1) + 1
    idf = field_idf(X[:, qcols])
    kw = {"mode": "bm25", "length": 3, "query_field_idx": qcols, "idf": idf}
    sel = select_histories(X, users, windows, t, **kw)
    assert sel.tolist() == [[1, 4, 7]]  # item + category, item + category, category only
    model, _ = _setup("ubr4ctr")
    before = _score(model, X, y, sel)
    X2 = X.copy()
    X2[[0, 2, 3], BEH] = X2[[0, 2, 3], BEH] % (CARD[BEH] - 1) + 1  # low-score rows: not read
    torch.testing.assert_close(_score(model, X2, y, select_histories(X2, users, windows, t, **kw)), before,
                               rtol=0, atol=0)  # fmt: skip
    X3 = X.copy()
    X3[7, BEH] = X3[7, BEH] % (CARD[BEH] - 1) + 1  # a retrieved row's non-query field: read by the model
    assert not torch.equal(_score(model, X3, y, select_histories(X3, users, windows, t, **kw)), before)
