"""CTR-group baselines: DeepFM, DIN, DIEN, BERT4Rec (the torch ones; GBDT is in test_gbdt.py).

``contract_batch_<name>() -> (cfg_dict, context, batch)`` (collected in ``CONTRACT_BATCHES``) are
the factories for the registry contract tests.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F

import liftrec.recsys.models.bert4rec  # noqa: F401  (registers)
import liftrec.recsys.models.deepfm  # noqa: F401
import liftrec.recsys.models.dien  # noqa: F401
import liftrec.recsys.models.din  # noqa: F401
from liftrec.recsys.errors import ConfigError
from liftrec.recsys.models.deepfm import fm_interaction
from liftrec.recsys.models.dien import AUGRU
from liftrec.recsys.models.din import TargetAttention
from liftrec.recsys.models.registry import build_model

CARD = (6, 9, 5, 4)  # user, item, category, behaviour
ITEM = 1
B, L = 16, 5
Batch = dict[str, torch.Tensor]


def _fields(g: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.stack([torch.randint(1, c, shape, generator=g) for c in CARD], -1)


def _batch(seed: int = 0) -> Batch:
    """x + hist groups; history lengths 0 (row 0), 1, ..., L, left-padded with zeros."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.arange(B) % (L + 1)  # (B,), row 0 has an empty history
    valid = torch.arange(L).unsqueeze(0) >= (L - lengths).unsqueeze(1)  # (B, L), left-padded
    hist = _fields(g, B, L) * valid.unsqueeze(-1)
    hist_label = torch.randint(0, 2, (B, L), generator=g) * valid
    hist_label[:, -1] = valid[:, -1].long()  # some clicked next rows for DIEN's auxiliary loss
    return {
        "x": _fields(g, B),
        "label": torch.randint(0, 2, (B,), generator=g).float(),
        "hist": hist,
        "hist_label": hist_label,
        "hist_valid": valid,
    }


def _small(**extra: Any) -> dict[str, Any]:
    return {"field_dim": 4, "mlp": [32, 16], "dropout": 0.0, **extra}


def contract_batch_deepfm() -> tuple[dict[str, Any], dict[str, Any], Batch]:
    b = _batch()
    return _small(), {"cardinalities": CARD}, {"x": b["x"], "label": b["label"]}


def contract_batch_din() -> tuple[dict[str, Any], dict[str, Any], Batch]:
    return _small(attention_mlp=[8]), {"cardinalities": CARD}, _batch()


def contract_batch_dien() -> tuple[dict[str, Any], dict[str, Any], Batch]:
    # the auxiliary loss's random negatives keep the total loss above the contract's overfit bound
    return _small(attention_mlp=[8], hidden_dim=8, aux_loss=False), {"cardinalities": CARD}, _batch()


def contract_batch_bert4rec() -> tuple[dict[str, Any], dict[str, Any], Batch]:
    cfg = _small(dim=16, layers=1, heads=2, attn_dropout=0.0)
    return cfg, {"cardinalities": CARD, "seq_len": L}, _batch()


CONTRACT_BATCHES = {
    "deepfm": contract_batch_deepfm,
    "din": contract_batch_din,
    "dien": contract_batch_dien,
    "bert4rec": contract_batch_bert4rec,
}
NAMES = sorted(CONTRACT_BATCHES)
HIST_NAMES = ["bert4rec", "dien", "din"]
FULL_CONTEXT = {"cardinalities": CARD, "seq_len": L, "item_field_index": ITEM, "seed": 0, "encoder_dim": 3}


def _setup(name: str, **cfg_extra: Any) -> tuple[torch.nn.Module, Batch]:
    cfg, context, batch = CONTRACT_BATCHES[name]()
    torch.manual_seed(0)
    return build_model(name, {**cfg, **cfg_extra}, **context), batch


# the generic checks (finite loss, gradients, overfitting, state-dict round trip, config typo) are
# in test_registry_contract.py, on CONTRACT_BATCHES; here only what it does not check


@pytest.mark.parametrize("name", NAMES)
def test_declared_inputs_and_output_shapes(name: str) -> None:
    model, batch = _setup(name)
    assert model.inputs <= {"x", "hist", "keys"} and "x" in model.inputs
    assert model(batch).shape == (B,)
    p = model.eval().predict(batch)
    assert p.shape == (B,) and ((p > 0) & (p < 1)).all()


@pytest.mark.parametrize("name", NAMES)
def test_target_label_is_never_read(name: str) -> None:
    model, batch = _setup(name)
    flipped = {**batch, "label": 1.0 - batch["label"]}
    torch.testing.assert_close(model.eval()(flipped), model(batch), rtol=0, atol=0)


@pytest.mark.parametrize("name", HIST_NAMES)
def test_empty_histories_give_finite_output(name: str) -> None:
    model, batch = _setup(name)
    empty = {
        **batch,
        "hist": torch.zeros_like(batch["hist"]),
        "hist_label": torch.zeros_like(batch["hist_label"]),
        "hist_valid": torch.zeros_like(batch["hist_valid"]),
    }
    for mode in (model.train(), model.eval()):
        out = mode(empty)
        assert torch.isfinite(out).all()
        loss = mode.loss(empty)
        assert torch.isfinite(loss)
        loss.backward()
        assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


@pytest.mark.parametrize("name", HIST_NAMES)
def test_padded_positions_are_ignored(name: str) -> None:
    model, batch = _setup(name)
    valid = batch["hist_valid"]
    g = torch.Generator().manual_seed(7)
    noisy = {
        **batch,
        "hist": torch.where(valid.unsqueeze(-1), batch["hist"], _fields(g, B, L)),
        "hist_label": torch.where(valid, batch["hist_label"], torch.ones_like(batch["hist_label"])),
    }
    torch.testing.assert_close(model.eval()(noisy), model(batch), rtol=1e-5, atol=1e-6)
    # ... while a valid history row does matter
    changed = {**batch, "hist": batch["hist"].clone()}
    changed["hist"][:, -1, ITEM] = changed["hist"][:, -1, ITEM] % (CARD[ITEM] - 1) + 1
    diff = (model(changed) - model(batch)).abs()
    empty = ~valid.any(1)  # rows 0, 6, 12 have no history
    assert (diff[empty] == 0).all() and (diff[~empty] > 0).all()


@pytest.mark.parametrize("name", NAMES)
def test_builds_with_defaults_from_the_uniform_context(name: str) -> None:
    model = build_model(name, None, **FULL_CONTEXT)
    _, _, batch = CONTRACT_BATCHES[name]()
    assert torch.isfinite(model.eval()(batch)).all()
    assert torch.isfinite(model.train().loss(batch))


# ---- one behavioural test per model ----


def test_deepfm_fm_term_is_the_sum_of_pairwise_inner_products() -> None:
    emb = torch.randn(3, 4, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    expected = sum((emb[:, j] * emb[:, k]).sum(-1) for j in range(4) for k in range(j + 1, 4))
    torch.testing.assert_close(fm_interaction(emb), expected)
    model, batch = _setup("deepfm")
    with torch.no_grad():  # zero the DNN and first order: the logit is bias + FM only
        for p in model.dnn.parameters():
            p.zero_()
        model.bias.fill_(0.5)
    e = model.embedding(batch["x"])
    torch.testing.assert_close(model.eval()(batch), 0.5 + fm_interaction(e))


@pytest.mark.parametrize("norm", ["none", "softmax"])
def test_din_attention_is_zero_on_padding_and_normalised_only_with_softmax(norm: str) -> None:
    model, batch = _setup("din", attention_norm=norm)
    w = model.eval().attention_weights(batch)  # (B, L)
    valid = batch["hist_valid"]
    assert (w[~valid] == 0).all() and (w[valid] != 0).all()
    sums, empty = w.sum(-1), ~valid.any(1)
    assert (sums[empty] == 0).all()
    if norm == "softmax":
        torch.testing.assert_close(sums[~empty], torch.ones(int((~empty).sum())))
    else:  # the paper's unnormalised weights
        assert not torch.allclose(sums[~empty], torch.ones(int((~empty).sum())))


def test_din_is_order_invariant_but_dien_and_bert4rec_are_not() -> None:
    batch = _batch()
    perm = torch.tensor([0, 1, 2, 4, 3])  # swap the two newest rows (valid wherever L-2 is)
    swapped = {**batch, "hist": batch["hist"][:, perm], "hist_label": batch["hist_label"][:, perm]}
    rows = batch["hist_valid"][:, -2]  # rows with at least two history rows
    for name in NAMES:
        if name == "deepfm":
            continue
        model, _ = _setup(name)
        model.eval()
        diff = (model(swapped) - model(batch))[rows].abs()
        if name == "din":  # a weighted sum of rows: their order cannot matter
            assert diff.max() < 1e-5, name
        else:
            assert (diff > 0).all(), name


def test_target_attention_projects_a_query_of_another_size() -> None:
    att = TargetAttention(key_dim=6, query_dim=10, hidden=(8,), normalize="softmax")
    g = torch.Generator().manual_seed(0)
    pooled, w = att(
        torch.randn(3, 10, generator=g),
        torch.randn(3, 4, 6, generator=g),
        torch.tensor([[True] * 4, [False, False, True, True], [False] * 4]),
    )
    assert pooled.shape == (3, 6) and w.shape == (3, 4)
    torch.testing.assert_close(w.sum(-1), torch.tensor([1.0, 1.0, 0.0]))
    assert (pooled[2] == 0).all()


def test_augru_with_zero_attention_keeps_its_state_and_skips_padding() -> None:
    torch.manual_seed(0)
    gru = AUGRU(3, 4)
    seq = torch.randn(2, 5, 3)
    valid = torch.tensor([[False, False, True, True, True]] * 2)
    att = torch.tensor([[0.0, 0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0, 1.0]])
    states = gru(seq, valid, att)  # (2, 5, 4)
    assert (states[:, :2] == 0).all()  # padding: the initial zero state is carried
    torch.testing.assert_close(states[0, 4], states[0, 2])  # a_t = 0: h'_t = h'_{t-1}
    assert not torch.allclose(states[1, 4], states[1, 2])
    # a = 1 everywhere is torch's GRU on the valid steps: same (r, u, n) gate order, but torch's
    # z weights the OLD state (h' = (1 - z) n + z h), so z = 1 - u = sigmoid(-(...)): negated weights
    ref = torch.nn.GRU(3, 4, batch_first=True)
    sign = torch.tensor([1.0] * 4 + [-1.0] * 4 + [1.0] * 4)
    with torch.no_grad():
        ref.weight_ih_l0.copy_(gru.x2h.weight * sign[:, None])
        ref.weight_hh_l0.copy_(gru.h2h.weight * sign[:, None])
        ref.bias_ih_l0.copy_(gru.x2h.bias * sign)
        ref.bias_hh_l0.copy_(gru.h2h.bias * sign)
    plain = gru(seq, valid)
    expected, _ = ref(seq[:, 2:])
    torch.testing.assert_close(plain[:, 2:], expected, rtol=1e-5, atol=1e-6)


def test_dien_auxiliary_loss_is_added_and_trains_its_network() -> None:
    cfg, _, batch = contract_batch_dien()
    cfg = {**cfg, "aux_loss": True, "aux_weight": 1.0}
    torch.manual_seed(0)
    model = build_model("dien", cfg, cardinalities=CARD, item_field_index=ITEM)
    model.train()
    logit, states = model._run(batch)
    aux = model.auxiliary_loss(batch, states)
    assert torch.isfinite(aux) and aux > 0
    torch.testing.assert_close(
        model.loss(batch), F.binary_cross_entropy_with_logits(logit, batch["label"]) + aux
    )
    model.loss(batch).backward()
    dead = [n for n, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert not dead and any(n.startswith("aux_net") for n, _ in model.named_parameters())
    with pytest.raises(ConfigError, match="item_field_index"):
        build_model("dien", cfg, cardinalities=CARD)


def test_bert4rec_reads_history_labels_and_rejects_too_long_histories() -> None:
    model, batch = _setup("bert4rec")
    model.eval()
    flipped = {**batch, "hist_label": torch.where(batch["hist_valid"], 1 - batch["hist_label"], 0)}
    diff = (model(flipped) - model(batch)).abs()
    empty = ~batch["hist_valid"].any(1)
    assert (diff[empty] == 0).all() and (diff[~empty] > 0).all()
    short = {k: (v[:, 2:] if k.startswith("hist") else v) for k, v in batch.items()}  # L=3 < seq_len
    assert torch.isfinite(model(short)).all()
    long = {k: (torch.cat([v, v], 1) if k.startswith("hist") else v) for k, v in batch.items()}
    with pytest.raises(ValueError, match="seq_len"):
        model(long)
