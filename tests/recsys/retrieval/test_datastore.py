"""Datastore: E(history) / E(future) of retrieval rows against a per-row loop oracle, storage, dtypes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from liftrec.recsys.data.sequences import WindowConfig, build_windows
from liftrec.recsys.errors import DataError
from liftrec.recsys.models.encoder import LABEL_MASK, EncoderConfig, SequenceEncoder
from liftrec.recsys.retrieval.datastore import (
    Datastore,
    DatastoreConfig,
    anchored_windows,
    build_datastore,
    encode_rows,
    encode_windows,
)
from liftrec.recsys.schema import GROUP_ID, LABEL, PAD, PERIOD, RETRIEVAL, ROW_ID, TS, USER_ID, Schema
from liftrec.recsys.training.batching import window_tokens

L = 3
FIELDS = ("user", "item", "cat")
CARD = (5, 12, 4)
F32 = DatastoreConfig(batch_size=4, dtype="float32", device="cpu")


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, Schema, dict[str, np.ndarray], SequenceEncoder]:
    rng = np.random.default_rng(0)
    recs = []
    for user, n in ((1, 9), (2, 3), (3, 6), (4, 1)):
        ts = np.sort(rng.choice(np.arange(100), n, replace=False))
        ts[1:2] = ts[0]  # a timestamp tie inside the user
        ts = np.sort(ts)
        for t in ts:
            period = 0 if t < 50 else (1 if t < 75 else 3)
            label, item, cat = int(rng.integers(0, 2)), int(rng.integers(1, 12)), int(rng.integers(1, 4))
            recs.append((user, int(t), label, period, item, cat))
    rows = pd.DataFrame(recs, columns=[USER_ID, TS, LABEL, PERIOD, "item", "cat"])
    rows.insert(0, ROW_ID, np.arange(len(rows)))
    rows[GROUP_ID] = rows[ROW_ID]
    rows["user"] = rows[USER_ID]
    rows[LABEL] = rows[LABEL].astype(np.int8)
    schema = Schema("toy", FIELDS, CARD, ("user",), ("item", "cat"))
    windows = build_windows(rows, WindowConfig(length=L, min_pretrain_len=1))
    torch.manual_seed(0)
    enc = SequenceEncoder(EncoderConfig(dim=8, field_dim=4, layers=1, heads=2, max_len=L, dropout=0.1), CARD)
    return rows, schema, windows, enc


def _oracle_windows(rows: pd.DataFrame, which: str) -> np.ndarray:
    """Per-row Python loop: the last L pool rows before (hist) / first L retrieval pool rows after (fut)."""
    u, t, p, y = (rows[c].to_numpy() for c in (USER_ID, TS, PERIOD, LABEL))
    pool = (p == RETRIEVAL) | (y == 1)
    out = np.full((len(rows), L), PAD, dtype=np.int64)
    for r in range(len(rows)):
        if which == "hist":
            ids = [z for z in range(len(rows)) if pool[z] and u[z] == u[r] and t[z] < t[r]][-L:]
        else:
            if p[r] != RETRIEVAL:
                continue
            later = [z for z in range(len(rows)) if pool[z] and u[z] == u[r] and t[z] > t[r]]
            ids = [z for z in later if p[z] == RETRIEVAL][:L]
        if ids:
            out[r, L - len(ids) :] = ids
    return out


def _oracle_encode(enc: SequenceEncoder, rows: pd.DataFrame, ids: np.ndarray) -> np.ndarray:
    X, y = rows[list(FIELDS)].to_numpy(), rows[LABEL].to_numpy()
    fields, labels = window_tokens(ids, X, y)
    enc.eval()
    with torch.no_grad():
        vec = enc.encode(torch.from_numpy(fields), torch.from_numpy(labels)).numpy()
    vec[(ids == PAD).all(1)] = 0  # empty window
    return vec


def test_datastore_matches_oracle(data) -> None:
    rows, schema, windows, enc = data
    enc.train()  # build_datastore must switch to eval (no dropout) and restore the mode
    ds = build_datastore(enc, rows, windows, schema, L, F32)
    assert enc.training
    ret = np.flatnonzero(rows[PERIOD].to_numpy() == RETRIEVAL)
    np.testing.assert_array_equal(ds.row_ids, ret)
    assert ds.hist.dtype == np.float32 and ds.hist.shape == (len(ret), 8) and ds.dim == 8
    for name, arr in (("hist", ds.hist), ("fut", ds.fut)):
        ids = _oracle_windows(rows, name)[ret]
        np.testing.assert_allclose(arr, _oracle_encode(enc, rows, ids), atol=1e-5, err_msg=name)
        empty = (ids == PAD).all(1)
        assert empty.any() and (arr[empty] == 0).all()  # e.g. a user's last retrieval row has no future


def test_own_history_of_targets_and_batch_size_invariance(data) -> None:
    rows, schema, windows, enc = data
    targets = np.flatnonzero(rows[PERIOD].to_numpy() != RETRIEVAL)
    h = encode_rows(enc, rows, windows, schema, targets, L, F32)
    expected = _oracle_encode(enc, rows, _oracle_windows(rows, "hist")[targets])
    np.testing.assert_allclose(h, expected, atol=1e-5)
    one_cfg = DatastoreConfig(batch_size=1, dtype="float32", device="cpu")
    one = encode_rows(enc, rows, windows, schema, targets, L, one_cfg)
    np.testing.assert_allclose(one, h, atol=1e-5)


def test_future_bounds_given_per_retrieval_row(data) -> None:
    rows, schema, windows, enc = data
    ret = np.flatnonzero(rows[PERIOD].to_numpy() == RETRIEVAL)
    short = {**windows, "fut_lo": windows["fut_lo"][ret], "fut_hi": windows["fut_hi"][ret]}
    np.testing.assert_array_equal(
        encode_rows(enc, rows, short, schema, ret[::-1], L, F32, which="fut"),
        encode_rows(enc, rows, windows, schema, ret[::-1], L, F32, which="fut"),
    )
    with pytest.raises(DataError, match="retrieval-period"):  # futures exist only for retrieval rows
        train_row = np.flatnonzero(rows[PERIOD].to_numpy() != RETRIEVAL)[0]
        encode_rows(enc, rows, short, schema, np.array([ret[0], train_row]), L, F32, which="fut")
    with pytest.raises(DataError, match="neither all rows nor retrieval rows"):
        bad = {**windows, "fut_lo": ret[:2], "fut_hi": ret[:2]}
        encode_rows(enc, rows, bad, schema, ret, L, F32, which="fut")


def test_float16_storage_is_close_to_float32(data) -> None:
    rows, schema, windows, enc = data
    f32 = build_datastore(enc, rows, windows, schema, L, F32)
    f16 = build_datastore(enc, rows, windows, schema, L, DatastoreConfig(batch_size=4, device="cpu"))
    assert f16.hist.dtype == np.float16
    a, b = f32.hist.astype(np.float64), f16.hist.astype(np.float64)
    nz = np.linalg.norm(a, axis=1) > 0
    cos = (a[nz] * b[nz]).sum(1) / (np.linalg.norm(a[nz], axis=1) * np.linalg.norm(b[nz], axis=1))
    assert cos.min() > 0.9999
    assert np.abs(a - b).max() <= 2e-3 * max(1.0, np.abs(a).max())


def test_save_load_and_out_dir_memmap(data, tmp_path) -> None:
    rows, schema, windows, enc = data
    mem = build_datastore(enc, rows, windows, schema, L, F32)
    disk = build_datastore(enc, rows, windows, schema, L, F32, out_dir=tmp_path / "ds")
    assert isinstance(disk.hist, np.memmap)
    for name in ("row_ids", "hist", "fut"):
        np.testing.assert_array_equal(getattr(disk, name), getattr(mem, name))
    disk.save(tmp_path / "ds")  # saving onto its own backing files is a flush, not a corruption
    mem.save(tmp_path / "copy")
    for mmap in (True, False):
        back = Datastore.load(tmp_path / "copy", mmap=mmap)
        assert isinstance(back.fut, np.memmap) == mmap
        np.testing.assert_array_equal(back.fut, mem.fut)
    np.testing.assert_array_equal(Datastore.load(tmp_path / "ds").hist, mem.hist)


def test_encode_windows_into_preallocated_out(data) -> None:
    rows, schema, windows, enc = data
    X, y = rows[list(FIELDS)].to_numpy(), rows[LABEL].to_numpy()
    lo, hi = windows["hist_lo"], windows["hist_hi"]
    out = np.full((len(rows), 8), 7.0, dtype=np.float32)
    res = encode_windows(enc, X, y, windows["pool_index"], lo, hi, L, F32, out=out)
    assert res is out
    assert (out[hi <= lo] == 0).all() and (out[hi > lo] != 7.0).all()
    with pytest.raises(DataError, match="shape"):
        encode_windows(enc, X, y, windows["pool_index"], lo, hi, L, F32, out=np.zeros((2, 8)))


def test_positions_lookup() -> None:
    ds = Datastore(np.array([2, 5, 9]), np.zeros((3, 2)), np.zeros((3, 2)))
    pos, valid = ds.positions(np.array([[9, 2, -1]]))
    np.testing.assert_array_equal(pos, [[2, 0, 0]])
    np.testing.assert_array_equal(valid, [[True, True, False]])
    with pytest.raises(DataError, match="row id 10"):
        ds.positions(np.array([10]))
    with pytest.raises(DataError, match="disagree"):
        Datastore(np.array([1, 2]), np.zeros((3, 2)), np.zeros((3, 2)))


def test_anchored_windows_hand_values() -> None:
    pool = np.array([10, 11, 12, 13, 14])
    ids, col = anchored_windows(pool, np.array([0, 1, 2]), np.array([5, 3, 2]), 3, np.array([7, 8, 9]), "end")
    assert ids.tolist() == [[13, 14, 7], [11, 12, 8], [PAD, PAD, 9]] and col.tolist() == [2, 2, 2]
    lo, anchors = np.array([0, 1, 2]), np.array([7, 8, 9])
    ids, col = anchored_windows(pool, lo, np.array([5, 2, 2]), 3, anchors, "start")
    # futures keep their FIRST entries: [0, 5) -> 10, 11 after the anchor
    assert ids.tolist() == [[7, 10, 11], [PAD, 8, 11], [PAD, PAD, 9]] and col.tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="at must be"):
        anchored_windows(pool, np.array([0]), np.array([1]), 3, np.array([1]), "middle")


def _oracle_anchored(
    rows: pd.DataFrame, which: str, ids: np.ndarray, mask_self: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Per-row loop: the last L - 1 context rows then the row (hist), or the row then the next L - 1 (fut)."""
    X, y = rows[list(FIELDS)].to_numpy(), rows[LABEL].to_numpy()
    ctx = _oracle_windows(rows, which)
    win = np.full((len(ids), L), PAD, dtype=np.int64)
    for i, r in enumerate(ids):
        c = [z for z in ctx[r] if z != PAD]
        seq = c[-(L - 1) :] + [r] if which == "hist" else [r] + c[: L - 1]
        win[i, L - len(seq) :] = seq
    fields, labels = window_tokens(win, X, y)
    if mask_self:
        labels[win == ids[:, None]] = LABEL_MASK
    return fields, labels


@pytest.mark.parametrize("self_label", ["mask", "label"])
def test_include_self_matches_oracle_and_hides_target_labels(data, self_label: str) -> None:
    rows, schema, windows, enc = data
    cfg = DatastoreConfig(
        batch_size=3, dtype="float32", device="cpu", include_self=True, self_label=self_label
    )
    ds = build_datastore(enc, rows, windows, schema, L, cfg)
    enc.eval()
    for name, arr in (("hist", ds.hist), ("fut", ds.fut)):
        f, lab = _oracle_anchored(rows, name, ds.row_ids, self_label == "mask")
        with torch.no_grad():
            expected = enc.encode(torch.from_numpy(f), torch.from_numpy(lab)).numpy()
        np.testing.assert_allclose(arr, expected, atol=1e-5, err_msg=name)
        assert (np.abs(arr).sum(1) > 0).all()  # never empty: the row itself is always there
    # Targets: always [MSK] on their own row; their label never reaches their vector.
    targets = np.flatnonzero(rows[PERIOD].to_numpy() != RETRIEVAL)
    h = encode_rows(enc, rows, windows, schema, targets, L, cfg)
    # Flip the labels of the targets that sit in no window (later-period negatives): only a leak of
    # a target's own label into its own vector could change anything.
    alone = targets[~np.isin(targets, windows["pool_index"])]
    assert len(alone) > 0
    lab = rows[LABEL].to_numpy().copy()
    lab[alone] = 1 - lab[alone]
    h_flipped = encode_rows(enc, rows.assign(**{LABEL: lab}), windows, schema, targets, L, cfg)
    np.testing.assert_allclose(h_flipped, h, atol=1e-6)
    f, lab = _oracle_anchored(rows, "hist", targets, True)
    with torch.no_grad():
        expected = enc.encode(torch.from_numpy(f), torch.from_numpy(lab)).numpy()
    np.testing.assert_allclose(h, expected, atol=1e-5)
    with pytest.raises(DataError, match="own label"):
        encode_rows(enc, rows, windows, schema, targets, L, cfg, self_label="label")
