"""Top-N baselines (FPMC, GRU4Rec, NARM, SASRec, TransRec): what the registry contract does not check.

``CONTRACT_BATCHES`` maps each registry name to a zero-argument factory
``() -> (cfg_dict, context, batch)`` for the registry contract tests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

from liftrec.recsys.errors import ConfigError
from liftrec.recsys.models import fpmc, gru4rec, narm, sasrec, transrec  # noqa: F401  (registers the models)
from liftrec.recsys.models.fpmc import clicked_sequence, last_clicked_item
from liftrec.recsys.models.registry import build_model
from liftrec.recsys.models.sasrec import SASRecModel

CARD = (20, 20, 5, 4)  # user, item, category, other
USER, ITEM = 0, 1
B, L = 16, 6
NAMES = ("fpmc", "gru4rec", "narm", "sasrec", "transrec")
CONFIGS: dict[str, dict[str, Any]] = {
    "fpmc": {"field_dim": 8},
    "gru4rec": {"field_dim": 8, "hidden_dim": 8, "dropout": 0.0},
    "narm": {"field_dim": 8, "hidden_dim": 8, "emb_dropout": 0.0, "ct_dropout": 0.0},
    "sasrec": {"field_dim": 8, "blocks": 2, "heads": 2, "dropout": 0.0},
    "transrec": {"field_dim": 8},
}
Batch = dict[str, torch.Tensor]


def _context(seq_len: int = L) -> dict[str, Any]:
    return {
        "cardinalities": CARD,
        "item_field_index": ITEM,
        "user_field_index": USER,
        "seq_len": seq_len,
        "seed": 0,
    }


def make_batch(seed: int = 0, b: int = B, seq_len: int = L) -> Batch:
    """A tiny batch: distinct users and candidate items, left-padded histories, row 0 without history.

    Every non-empty history holds at least one click, so only row 0 has no clicked item.
    """
    g = torch.Generator().manual_seed(seed)
    x = torch.stack([torch.randint(1, c, (b,), generator=g) for c in CARD], -1)  # (b, M)
    x[:, USER] = torch.randperm(CARD[USER] - 1, generator=g)[:b] + 1  # distinct users
    x[:, ITEM] = torch.randperm(CARD[ITEM] - 1, generator=g)[:b] + 1  # distinct candidates
    hist = torch.stack([torch.randint(1, c, (b, seq_len), generator=g) for c in CARD], -1)  # (b, L, M)
    lengths = torch.randint(1, seq_len + 1, (b,), generator=g)
    lengths[0] = 0
    valid = torch.arange(seq_len) >= (seq_len - lengths).unsqueeze(1)  # (b, L), left-padded
    hist_label = torch.randint(0, 2, (b, seq_len), generator=g)
    first = (seq_len - lengths).clamp(max=seq_len - 1)  # (b,) oldest valid position
    hist_label[torch.arange(b), first] = 1  # at least one click per non-empty history, not always the newest
    hist_label = hist_label * valid
    hist = hist * valid.unsqueeze(-1)
    label = torch.randint(0, 2, (b,), generator=g).float()
    label[:2] = torch.tensor([0.0, 1.0])
    return {"x": x, "label": label, "hist": hist, "hist_label": hist_label, "hist_valid": valid}


def _factory(name: str) -> Callable[[], tuple[dict[str, Any], dict[str, Any], Batch]]:
    def contract_batch() -> tuple[dict[str, Any], dict[str, Any], Batch]:
        return dict(CONFIGS[name]), _context(), make_batch()

    contract_batch.__name__ = f"contract_batch_{name}"
    return contract_batch


contract_batch_fpmc = _factory("fpmc")
contract_batch_gru4rec = _factory("gru4rec")
contract_batch_narm = _factory("narm")
contract_batch_sasrec = _factory("sasrec")
contract_batch_transrec = _factory("transrec")
CONTRACT_BATCHES = {name: _factory(name) for name in NAMES}


def _build(name: str, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model(name, CONFIGS[name], **_context())


# --- history helpers ---------------------------------------------------------------------------


def _hand_batch() -> Batch:
    items = torch.tensor([[0, 0, 5, 6, 7, 8], [1, 2, 3, 4, 5, 6], [0, 0, 0, 0, 0, 0]])
    label = torch.tensor([[0, 0, 1, 0, 1, 0], [1, 0, 0, 1, 0, 0], [0, 0, 0, 0, 0, 0]])
    valid = torch.tensor([[False, False, True, True, True, True], [True] * 6, [False] * 6])
    hist = torch.stack([torch.ones_like(items), items], -1)  # (3, 6, 2): user, item
    return {"hist": hist, "hist_label": label, "hist_valid": valid}


def test_clicked_sequence_compacts_in_time_order() -> None:
    batch = _hand_batch()
    items, mask = clicked_sequence(batch, 1, "right")
    assert items.tolist() == [[0, 0, 0, 0, 5, 7], [0, 0, 0, 0, 1, 4], [0] * 6]
    assert mask.tolist() == [[False] * 4 + [True] * 2] * 2 + [[False] * 6]
    items, mask = clicked_sequence(batch, 1, "left")
    assert items.tolist() == [[5, 7, 0, 0, 0, 0], [1, 4, 0, 0, 0, 0], [0] * 6]
    assert mask.sum(1).tolist() == [2, 2, 0]
    item, has = last_clicked_item(batch, 1)
    assert item.tolist() == [7, 4, 0] and has.tolist() == [True, True, False]


# --- beyond the registry contract (test_registry_contract.py runs the generic checks) -----------


@pytest.mark.parametrize("name", NAMES)
def test_declared_inputs_and_output_shapes(name: str) -> None:
    model, batch = _build(name), make_batch()
    assert model.inputs == frozenset({"x", "hist"}) and model.history_selection == "recent"
    assert model(batch).shape == (B,)
    assert model.eval().predict(batch).shape == (B,)


@pytest.mark.parametrize("name", NAMES)
def test_empty_histories_give_finite_outputs_and_gradients(name: str) -> None:
    batch = make_batch()
    for key in ("hist", "hist_label"):
        batch[key] = torch.zeros_like(batch[key])
    batch["hist_valid"] = torch.zeros_like(batch["hist_valid"])
    model = _build(name).train()
    loss = model.loss(batch)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    assert torch.isfinite(model.eval().predict(batch)).all()


@pytest.mark.parametrize("name", NAMES)
def test_bad_parameter_and_context_raise(name: str) -> None:
    with pytest.raises(ConfigError, match="field_dim"):
        build_model(name, {"field_dim": 0}, **_context())
    ctx = _context()
    del ctx["item_field_index"]
    with pytest.raises(ConfigError, match="item_field_index"):
        build_model(name, {}, **ctx)
    with pytest.raises(ConfigError, match="item_field_index"):
        build_model(name, {}, **{**_context(), "item_field_index": len(CARD)})


@pytest.mark.parametrize("name", NAMES)
def test_only_clicked_history_items_matter(name: str) -> None:
    """Codes at padded and non-clicked positions, and extra left padding, leave the output unchanged."""
    model, batch = _build(name).eval(), make_batch()
    expected = model(batch)
    noisy = dict(batch)
    ignored = ~(batch["hist_valid"] & (batch["hist_label"] == 1))  # (B, L)
    other = make_batch(seed=99)["hist"].clamp_min(1)
    noisy["hist"] = torch.where(ignored.unsqueeze(-1), other, batch["hist"])
    assert (noisy["hist"] != batch["hist"]).any()
    torch.testing.assert_close(model(noisy), expected, rtol=0, atol=1e-6)
    # ... and so does extra left padding (L -> L + 3)
    pad = {k: torch.cat([torch.zeros_like(v[:, :3]), v], 1) for k, v in batch.items() if k.startswith("hist")}
    torch.testing.assert_close(model({**batch, **pad}), expected, rtol=0, atol=1e-6)


# --- one behaviour per model -------------------------------------------------------------------


def test_fpmc_equals_the_hand_computed_formula() -> None:
    model, batch = _build("fpmc"), make_batch()
    u, i = batch["x"][:, USER], batch["x"][:, ITEM]
    clicks = batch["hist_valid"] & (batch["hist_label"] == 1)
    expected = []
    for r in range(B):  # a slow, obvious loop on purpose
        s = model.user_ui.weight[u[r]] @ model.item_iu.weight[i[r]]
        pos = clicks[r].nonzero().flatten()
        if len(pos):
            last = batch["hist"][r, pos[-1], ITEM]
            s = s + model.item_il.weight[i[r]] @ model.item_li.weight[last]
        expected.append(s)
    torch.testing.assert_close(model(batch), torch.stack(expected))


def test_transrec_equals_the_formula_with_unit_ball_items() -> None:
    model = build_model(
        "transrec", {"field_dim": 2}, cardinalities=(3, 4), item_field_index=1, user_field_index=0
    )
    with torch.no_grad():
        model.item_emb.weight.copy_(torch.tensor([[0.0, 0.0], [3.0, 4.0], [0.3, 0.4], [0.0, -2.0]]))
        model.user_trans.weight.copy_(torch.tensor([[0.0, 0.0], [0.1, 0.0], [0.0, 0.5]]))
        model.global_trans.copy_(torch.tensor([0.2, 0.2]))
        model.item_bias.weight.copy_(torch.tensor([[0.0], [1.0], [2.0], [3.0]]))
        model.offset.fill_(-0.5)
    batch = {
        "x": torch.tensor([[1, 2], [2, 3]]),  # (user, candidate item)
        "hist": torch.tensor([[[1, 1], [1, 3]], [[0, 0], [2, 1]]]),  # row 0: 1 then 3 (3 not clicked)
        "hist_label": torch.tensor([[1, 0], [0, 1]]),
        "hist_valid": torch.tensor([[True, True], [False, True]]),
        "label": torch.tensor([1.0, 0.0]),
    }
    # row 0: last click = item 1 -> (3,4)/5 = (0.6, 0.8); + t (0.2, 0.2) + t_u (0.1, 0) = (0.9, 1.0);
    #        candidate 2 = (0.3, 0.4) (inside the ball, kept): d = ||(0.6, 0.6)||
    # row 1: last click = item 1 -> (0.6, 0.8); + t + t_u (0, 0.5) = (0.8, 1.5);
    #        candidate 3 = (0, -2) -> (0, -1): d = ||(0.8, 2.5)||
    expected = torch.tensor([2.0 - (0.72**0.5), 3.0 - (0.64 + 6.25) ** 0.5]) - 0.5
    torch.testing.assert_close(model(batch), expected)


def test_gru4rec_state_is_the_gru_over_the_clicks_alone() -> None:
    model, batch = _build("gru4rec").eval(), make_batch()
    clicks = batch["hist_valid"] & (batch["hist_label"] == 1)
    for r in range(1, 4):
        seq = batch["hist"][r, clicks[r], ITEM].unsqueeze(0)  # (1, n) unpadded clicked items
        out, _ = model.gru(model.item_in(seq))
        cand = batch["x"][r, ITEM]
        expected = out[0, -1] @ model.item_out.weight[cand] + model.item_bias.weight[cand, 0]
        torch.testing.assert_close(model(batch)[r], expected)


def test_narm_attention_is_zero_outside_the_clicks() -> None:
    model, batch = _build("narm").eval(), make_batch()
    items, mask = clicked_sequence(batch, ITEM, "left")
    _, alpha = model.encode(items, mask)
    assert (alpha[~mask] == 0).all() and (alpha[mask] != 0).all()
    assert (model(batch)[0] == 0).all()  # no clicks -> c = 0 -> score 0


def test_sasrec_is_causal() -> None:
    model = _build("sasrec").eval()
    assert isinstance(model, SASRecModel)
    g = torch.Generator().manual_seed(3)
    items = torch.randint(1, CARD[ITEM], (4, L), generator=g)
    mask = torch.ones(4, L, dtype=torch.bool)
    mask[0, :2] = False  # a left-padded row too
    items = items * mask
    out = model.encode(items, mask)
    for t in range(L - 1):
        changed = items.clone()
        changed[:, t + 1 :] = torch.randint(1, CARD[ITEM], (4, L - t - 1), generator=g)
        new = model.encode(changed, mask)
        torch.testing.assert_close(new[:, : t + 1], out[:, : t + 1], rtol=0, atol=1e-6)
        assert not torch.allclose(new[:, -1], out[:, -1])  # the future does reach later positions
