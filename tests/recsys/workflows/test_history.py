"""History selections of SIM (category hard search) and UBR4CTR (BM25) from the models' configs."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pytest

from liftrec.recsys.errors import ConfigError
from liftrec.recsys.models.sim import SIMConfig
from liftrec.recsys.models.ubr4ctr import UBR4CTRConfig
from liftrec.recsys.schema import PAD, TEST, TRAIN, TS, USER_ID, category_field
from liftrec.recsys.workflows.history import selected_history
from liftrec.recsys.workflows.models import ModelData, select_targets
from tests.recsys.workflows.conftest import LENGTH


def _renamed(tiny_stages: dict, old: str, new: str | None) -> ModelData:
    """tiny_data with field ``old`` renamed to ``new`` (None: dropped) in the rows and the schema."""
    s, schema = tiny_stages, tiny_stages["schema"]
    keep = [f for f in schema.fields if f != old or new is not None]
    fields = tuple(new if f == old else f for f in keep)
    cards = tuple(c for f, c in zip(schema.fields, schema.cardinalities, strict=True) if f in keep)
    schema = dataclasses.replace(
        schema,
        fields=fields,
        cardinalities=cards,
        item_fields=tuple(new if f == old else f for f in schema.item_fields if f in keep),
        query_fields=tuple(f for f in schema.query_fields if f in keep),
    )
    rows = s["rows"].drop(columns=[old]) if new is None else s["rows"].rename(columns={old: new})
    return ModelData(rows, schema, windows=s["windows"], length=LENGTH, retrieved=s["retrieved"])


def test_category_field_is_used_when_present(tiny_data, tiny_stages):
    assert category_field(tiny_data.schema, "category") == "category"
    assert category_field(_renamed(tiny_stages, "category", "genre").schema) == "genre"


def test_sim_falls_back_to_the_first_other_item_field_when_category_is_absent(tiny_stages, caplog):
    data = _renamed(tiny_stages, "category", "genre")
    with caplog.at_level(logging.INFO, logger="liftrec.recsys.workflows.history"):
        history = selected_history("category", SIMConfig(), data)
    assert "searching by 'genre'" in caplog.text
    t = select_targets(data, (TRAIN, TEST))
    ids = t.row_ids[:200]
    hist = history(ids)  # (B, L)
    assert hist.shape == (len(ids), LENGTH)
    col = list(data.schema.fields).index("genre")
    valid = hist != PAD
    assert valid.any()  # the search found something on the tiny data
    same = data.X[np.where(valid, hist, 0), col] == data.X[ids, col][:, None]
    assert same[valid].all()  # every selected row shares the target's genre


def test_sim_without_any_other_item_field_is_a_config_error(tiny_stages):
    data = _renamed(tiny_stages, "category", None)
    with pytest.raises(ConfigError, match=r"category_field.*'category' is not a field"):
        selected_history("category", SIMConfig(), data)


def test_ubr4ctr_query_field_missing_is_named(tiny_data):
    with pytest.raises(ConfigError, match=r"query_fields.*\['colour'\]"):
        selected_history("bm25", UBR4CTRConfig(query_fields=("item", "colour")), tiny_data)


def test_ubr4ctr_bm25_selection_returns_own_earlier_rows(tiny_data):
    history = selected_history("bm25", UBR4CTRConfig(query_fields=("item", "category")), tiny_data)
    ids = select_targets(tiny_data, (TEST,)).row_ids[:50]
    hist = history(ids)
    valid = hist != PAD
    assert hist.shape == (len(ids), LENGTH) and valid.any()
    safe = np.where(valid, hist, 0)
    users, ts = tiny_data.rows[USER_ID].to_numpy(), tiny_data.rows[TS].to_numpy()
    assert (users[safe] == users[ids][:, None])[valid].all()  # the target user's own rows
    assert (ts[safe] <= ts[ids][:, None])[valid].all()  # from before the target


def test_unknown_selection_and_missing_windows_fail(tiny_data, tiny_stages):
    with pytest.raises(ConfigError, match="unknown history selection 'semantic'"):
        selected_history("semantic", SIMConfig(), tiny_data)
    no_windows = ModelData(tiny_stages["rows"], tiny_stages["schema"])
    with pytest.raises(ConfigError, match="needs the windows"):
        selected_history("category", SIMConfig(), no_windows)
