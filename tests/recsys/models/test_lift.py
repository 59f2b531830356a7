"""LIFT predictor: attention masking, interaction layer, ablation switches, batch assembly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from liftrec.recsys.errors import ConfigError, DataError
from liftrec.recsys.evaluation import auc
from liftrec.recsys.models.lift import LiftConfig, LiftModel, pairwise_inner
from liftrec.recsys.models.lift_batch import LiftBatchTransform, assemble_lift_batch, lift_batches
from liftrec.recsys.retrieval.datastore import Datastore

CARD = (7, 11, 5)  # M = 3 fields
V = 6


def make_batch(B: int = 8, K: int = 4, seed: int = 0, n_invalid: int = 1) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.stack([torch.randint(1, c, (B,), generator=g) for c in CARD], -1)  # (B, M)
    keys = torch.stack([torch.randint(1, c, (B, K), generator=g) for c in CARD], -1)  # (B, K, M)
    valid = torch.ones(B, K, dtype=torch.bool)
    valid[:, K - n_invalid :] = False
    keys[~valid] = 0
    return {
        "x": x,
        "keys": keys,
        "key_valid": valid,
        "key_label": torch.randint(0, 2, (B, K), generator=g) * valid,
        "ret_hist": torch.randn(B, K, V, generator=g) * valid[..., None],
        "ret_fut": torch.randn(B, K, V, generator=g) * valid[..., None],
        "own_hist": torch.randn(B, V, generator=g),
        "label": torch.randint(0, 2, (B,), generator=g).float(),
    }


def make_model(seed: int = 0, **kw: object) -> LiftModel:
    torch.manual_seed(seed)
    return LiftModel(LiftConfig(mlp=(16, 8), **kw), CARD, V).eval()  # type: ignore[arg-type]


def test_shapes_and_probabilities() -> None:
    model, batch = make_model(), make_batch()
    logits = model(batch)
    assert logits.shape == (8,) and torch.isfinite(logits).all()
    p = model.predict(batch)
    assert ((p > 0) & (p < 1)).all()
    assert torch.isfinite(model.loss(batch))


def test_pairwise_inner_hand_values() -> None:
    emb = torch.tensor([[[1.0, 0.0], [2.0, 3.0], [-1.0, 4.0]]])  # (1, 3, 2)
    # pairs (0,1), (0,2), (1,2)
    assert pairwise_inner(emb).tolist() == [[2.0, -1.0, 10.0]]
    assert pairwise_inner(torch.zeros(2, 1, 4)).shape == (2, 0)


def test_attention_masks_invalid_keys_and_all_invalid_row_is_finite() -> None:
    model, batch = make_model(), make_batch(n_invalid=2)
    batch["key_valid"][0] = False  # row 0: nothing retrieved
    B, M = batch["x"].shape
    x = model._embed(batch["x"]).reshape(B, -1)
    keys = model._embed(batch["keys"]).reshape(B, batch["keys"].shape[1], -1)
    alpha = model.attention(x, keys, batch["key_valid"])
    assert torch.isfinite(alpha).all()
    assert (alpha[~batch["key_valid"]] == 0).all()
    assert alpha[0].sum() == 0
    torch.testing.assert_close(alpha[1:].sum(-1), torch.ones(B - 1))
    out = model(batch)
    assert torch.isfinite(out).all()
    # garbage behind invalid keys must not change anything
    noisy = {k: v.clone() for k, v in batch.items()}
    inv = ~batch["key_valid"]
    noisy["keys"][inv] = 3
    noisy["ret_hist"][inv] = 100.0
    noisy["ret_fut"][inv] = -100.0
    noisy["key_label"][inv] = 1
    torch.testing.assert_close(model(noisy), out)
    batch["label"][:] = 1.0
    model.train()
    model.loss(batch).backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_keys_are_a_set() -> None:
    model, batch = make_model(), make_batch(K=5, n_invalid=0)
    perm = torch.tensor([3, 0, 4, 2, 1])
    shuffled = dict(batch)
    for k in ("keys", "key_valid", "key_label", "ret_hist", "ret_fut"):
        shuffled[k] = batch[k][:, perm]
    torch.testing.assert_close(model(shuffled), model(batch))


@pytest.mark.parametrize(
    "switches, unused",
    [
        ({"use_future": False}, ["ret_fut"]),
        ({"use_history": False}, ["ret_hist"]),
        ({"use_future": False, "use_history": False}, ["ret_fut", "ret_hist"]),
        ({"use_own_history": False}, ["own_hist"]),
        ({"use_key_labels": False}, ["key_label"]),
    ],
)
def test_ablation_switches_drop_inputs(switches: dict[str, bool], unused: list[str]) -> None:
    model, batch = make_model(**switches), make_batch()
    out = model({k: v for k, v in batch.items() if k not in unused})  # never read
    torch.testing.assert_close(out, model(batch))
    full = make_model()
    expected_drop = sum(16 if k == "key_label" else V for k in unused)  # w = 16 for the label embedding
    assert full.mlp[0].in_features - model.mlp[0].in_features == expected_drop


def test_context_inputs_matter_when_used() -> None:
    model, batch = make_model(), make_batch()
    for key in ("ret_fut", "ret_hist", "own_hist", "key_label"):
        changed = dict(batch)
        changed[key] = 1 - batch[key] if key == "key_label" else batch[key] + 1.0
        assert not torch.allclose(model(changed), model(batch)), key


def test_paper_eq17_drops_labels_and_flat_embeddings() -> None:
    """use_key_labels=False, use_flat_embeddings=False: hidden = [inter(x_t), inter(x_r), e_f, e_h, h_t]."""
    paper = make_model(use_key_labels=False, use_flat_embeddings=False)
    M, w, P = len(CARD), 16, len(CARD) * (len(CARD) - 1) // 2
    assert paper.mlp[0].in_features == 2 * P + 3 * V
    assert make_model().mlp[0].in_features == 2 * P + 3 * V + w + 2 * M * w
    batch = make_batch()
    assert torch.isfinite(paper(batch)).all()
    paper.loss(batch).backward()
    assert paper.embedding.weight.grad is not None and paper.embedding.weight.grad.abs().sum() > 0


def test_user_id_can_be_blanked() -> None:
    batch = make_batch()
    other = dict(batch, x=batch["x"].clone(), keys=batch["keys"].clone())
    other["x"][:, 0] = (other["x"][:, 0] % (CARD[0] - 1)) + 1  # every user code changes, stays valid
    other["keys"][..., 0] = torch.where(other["key_valid"], (other["keys"][..., 0] % (CARD[0] - 1)) + 1, 0)
    torch.manual_seed(0)
    blank = LiftModel(LiftConfig(mlp=(16, 8), use_user_id=False), CARD, V, user_field_index=0).eval()
    torch.testing.assert_close(blank(other), blank(batch))  # the user id is never read
    full = make_model()
    assert not torch.allclose(full(other), full(batch))
    with pytest.raises(ValueError, match="user field"):
        LiftModel(LiftConfig(use_user_id=False), CARD, V)  # no index given


def test_float16_context_is_accepted() -> None:
    model, batch = make_model(), make_batch()
    half = {k: (v.half() if k in ("ret_hist", "ret_fut", "own_hist") else v) for k, v in batch.items()}
    torch.testing.assert_close(model(half), model(batch), atol=1e-2, rtol=1e-2)


def test_config_checks() -> None:
    with pytest.raises(ConfigError, match="dropout"):
        LiftConfig(dropout=1.0)
    with pytest.raises(ConfigError, match="mlp"):
        LiftConfig(mlp=(0,))


def _future_task(seed: int, B: int = 512, K: int = 4) -> dict[str, torch.Tensor]:
    # every retrieved future of a row shares the sign of its first coordinate: any attention
    # weighting keeps it, and that sign is the label
    batch = make_batch(B=B, K=K, seed=seed, n_invalid=0)
    sign = torch.randint(0, 2, (B,), generator=torch.Generator().manual_seed(seed + 999)) * 2 - 1  # (B,)
    batch["ret_fut"][..., 0] = sign[:, None] * (0.5 + batch["ret_fut"][..., 0].abs())
    batch["label"] = (sign > 0).float()
    return batch


def test_future_context_is_learned_and_ablation_cannot() -> None:
    """Labels depend only on the retrieved futures: LIFT learns them, the no-future ablation cannot."""
    train, test = _future_task(1), _future_task(2)
    scores = {}
    for use_future in (True, False):
        model = make_model(seed=2, use_future=use_future, dropout=0.0).train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        for _ in range(60):
            opt.zero_grad()
            model.loss(train).backward()
            opt.step()
        scores[use_future] = auc(test["label"].numpy(), model.eval().predict(test).numpy())
    assert scores[True] > 0.95
    assert scores[False] < 0.65


# ---------------------------------------------------------------- batch assembly


@pytest.fixture
def store() -> tuple[np.ndarray, np.ndarray, Datastore]:
    rng = np.random.default_rng(0)
    X = np.stack([rng.integers(1, c, 20) for c in CARD], 1)  # (N=20, M)
    y = rng.integers(0, 2, 20)
    ret = np.array([0, 2, 3, 7, 9])  # retrieval-period row ids
    hist, fut = (rng.normal(size=(5, V)).astype(np.float16) for _ in range(2))
    ds = Datastore(ret, hist, fut)
    return X, y, ds


def test_assemble_lift_batch_values(store: tuple[np.ndarray, np.ndarray, Datastore]) -> None:
    X, y, ds = store
    targets = np.array([12, 15])
    ret_ids = np.array([[9, 0, -1], [-1, -1, -1]])
    own = np.ones((2, V), np.float32)
    b = assemble_lift_batch(targets, ret_ids, X, ds, y=y, labels=y[targets], own_hist=own)
    np.testing.assert_array_equal(b["x"], X[targets])
    np.testing.assert_array_equal(b["key_valid"], [[True, True, False], [False, False, False]])
    np.testing.assert_array_equal(b["keys"][0, :2], X[[9, 0]])
    assert (b["keys"][0, 2] == 0).all() and (b["keys"][1] == 0).all()
    np.testing.assert_array_equal(b["key_label"], [[y[9], y[0], 0], [0, 0, 0]])
    np.testing.assert_array_equal(b["ret_hist"][0, 0], ds.hist[4])  # row 9 is datastore position 4
    np.testing.assert_array_equal(b["ret_fut"][0, 1], ds.fut[0])
    assert (b["ret_hist"][1] == 0).all() and b["ret_hist"].dtype == np.float16
    assert b["label"].dtype == np.float32 and b["own_hist"] is own
    model = make_model()
    out = model({k: torch.from_numpy(np.asarray(v)) for k, v in b.items()})
    assert torch.isfinite(out).all()


def test_assemble_rejects_non_datastore_rows(store: tuple[np.ndarray, np.ndarray, Datastore]) -> None:
    X, _, ds = store
    with pytest.raises(DataError, match="row id 5"):
        assemble_lift_batch(np.array([12]), np.array([[5, -1]]), X, ds)
    with pytest.raises(DataError, match="does not match"):
        assemble_lift_batch(np.array([12, 13]), np.array([[0, -1]]), X, ds)


def test_lift_batches_lazy_pipeline(store: tuple[np.ndarray, np.ndarray, Datastore], tmp_path) -> None:
    X, y, ds = store
    ds.save(tmp_path)
    mm = Datastore.load(tmp_path)  # memory-mapped
    targets = np.arange(10, 20)
    rng = np.random.default_rng(1)
    ret_ids = rng.choice(np.r_[ds.row_ids, -1], size=(10, 3))
    own = rng.normal(size=(10, V)).astype(np.float16)
    batches = lift_batches(targets, ret_ids, X, y, mm, own, 4, shuffle=True, seed=0, use_history=False)
    seen = []
    for b in batches:
        assert set(b) == {"x", "keys", "key_valid", "key_label", "ret_fut", "own_hist", "label", "row_id"}
        assert b["keys"].shape[1:] == (3, len(CARD)) and b["ret_fut"].shape[1:] == (3, V)
        np.testing.assert_array_equal(b["label"].numpy(), y[b["row_id"].numpy()])
        seen.append(b["row_id"].numpy())
    assert sorted(np.concatenate(seen).tolist()) == targets.tolist()
    direct = LiftBatchTransform(X, ds)({"row_id": targets, "ret_ids": ret_ids})
    assert not {"label", "key_label", "own_hist"} & set(direct)
