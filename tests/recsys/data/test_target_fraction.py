"""``negatives.<task>_target_fraction`` thins what is scored, never the data: histories, futures, pretraining
sequences and the datastore are the same for 1.0 and 0.1 (the issue of a parameter that punched holes
in histories and redrew the retrieval period)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from liftrec.recsys.data.negatives import NegativeConfig, sample_negatives
from liftrec.recsys.data.sequences import WindowConfig, build_windows, gather_windows
from liftrec.recsys.models.encoder import EncoderConfig, SequenceEncoder
from liftrec.recsys.retrieval.datastore import DatastoreConfig, build_datastore, encode_rows
from liftrec.recsys.schema import GROUP_ID, LABEL, PAD, PERIOD, RETRIEVAL, SCORED, TS, USER_ID, Schema

SCHEMA = Schema("toy", ("user", "item", "category"), (61, 40, 4), ("user",), ("item", "category"))
CONTENT = [USER_ID, TS, LABEL, PERIOD, "user", "item", "category"]
L = 6


def positives() -> pd.DataFrame:
    """60 users, tied timestamps, a global split (retrieval < 200 <= train < 240 <= valid < 260 <= test)."""
    rng = np.random.default_rng(0)
    n = 1500
    users, ts = np.sort(rng.integers(1, 61, n)), rng.integers(0, 300, n)
    items = rng.integers(1, 40, n)
    pos = pd.DataFrame(
        {
            USER_ID: users,
            TS: ts,
            LABEL: np.ones(n, np.int8),
            PERIOD: np.searchsorted([200, 240, 260], ts, side="right").astype(np.int8),
            "user": users,
            "item": items,
            "category": items % 3 + 1,
        }
    )
    return pos.sort_values([USER_ID, TS], kind="stable").reset_index(drop=True)


def mapping(full: pd.DataFrame, thin: pd.DataFrame) -> np.ndarray:
    """Per row of ``thin``, its row in ``full`` (positives correspond one to one, in order)."""
    pos_full = np.flatnonzero(full[LABEL].to_numpy() == 1)
    thin_pos = (thin[LABEL] == 1).to_numpy()
    kept = (thin[PERIOD] == RETRIEVAL).to_numpy()[thin_pos] | (thin[SCORED] == 1).to_numpy()[thin_pos]
    group_kept = np.zeros(len(full), dtype=bool)
    group_kept[pos_full] = kept
    at = np.flatnonzero(group_kept[full[GROUP_ID].to_numpy()] | (full[LABEL].to_numpy() == 1))
    assert len(at) == len(thin)
    return at


@pytest.mark.parametrize("task", ["ctr", "topn"])
@pytest.mark.parametrize("pool", ["one_per_group", "all"])
def test_histories_futures_and_datastore_do_not_depend_on_target_fraction(task: str, pool: str) -> None:
    pos = positives()
    cfgs = [
        NegativeConfig(task=task, topn_per_positive=8, **{f"{task}_target_fraction": f}) for f in (1.0, 0.1)
    ]
    full, thin = (sample_negatives(pos, SCHEMA, c, seed=7) for c in cfgs)
    at = mapping(full, thin)
    pd.testing.assert_frame_equal(full.iloc[at][CONTENT].reset_index(drop=True), thin[CONTENT])
    wcfg = WindowConfig(length=L, retrieval_pool=pool)
    wf, wt = build_windows(full, wcfg), build_windows(thin, wcfg)

    def mapped(ids: np.ndarray) -> np.ndarray:  # thin row ids -> full row ids, padding kept
        return np.where(ids == PAD, PAD, at[np.maximum(ids, 0)])

    # Every row's history (the targets' own included) and every retrieval row's future.
    for lo, hi in (("hist_lo", "hist_hi"), ("fut_lo", "fut_hi")):
        h_thin = gather_windows(wt["pool_index"], wt[lo], wt[hi], L)
        h_full = gather_windows(wf["pool_index"], wf[lo][at], wf[hi][at], L)
        np.testing.assert_array_equal(mapped(h_thin), h_full, err_msg=lo)
    # Pretraining sequences.
    s_thin = gather_windows(wt["pool_index"], wt["seq_lo"], wt["seq_hi"], L)
    s_full = gather_windows(wf["pool_index"], wf["seq_lo"], wf["seq_hi"], L)
    np.testing.assert_array_equal(mapped(s_thin), s_full)
    scored = np.flatnonzero(thin[SCORED].to_numpy() == 1)
    unscored_positives = (thin[SCORED] == 0) & (thin[PERIOD] != RETRIEVAL)
    assert len(scored) and unscored_positives.sum() > 0.8 * (pos[PERIOD] != RETRIEVAL).sum()

    # The datastore and the targets' own histories, encoded by the same encoder, are equal too.
    torch.manual_seed(0)
    enc = SequenceEncoder(
        EncoderConfig(dim=8, field_dim=4, layers=1, heads=2, max_len=L), SCHEMA.cardinalities
    )
    dcfg = DatastoreConfig(batch_size=64, dtype="float32", device="cpu")
    ds_full, ds_thin = (
        build_datastore(enc, full, wf, SCHEMA, L, dcfg),
        build_datastore(enc, thin, wt, SCHEMA, L, dcfg),
    )
    np.testing.assert_array_equal(at[ds_thin.row_ids], ds_full.row_ids)
    np.testing.assert_allclose(ds_thin.hist, ds_full.hist, atol=1e-6)
    np.testing.assert_allclose(ds_thin.fut, ds_full.fut, atol=1e-6)
    own_thin = encode_rows(enc, thin, wt, SCHEMA, scored, L, dcfg)
    own_full = encode_rows(enc, full, wf, SCHEMA, at[scored], L, dcfg)
    np.testing.assert_allclose(own_thin, own_full, atol=1e-6)
