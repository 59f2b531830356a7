"""Shared helpers for the raw-loader tests: writing small raw files and checking the table contract."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from liftrec.recsys.schema import LABEL, ROW_ID, TS, USER_ID, Schema

SHARED_DATA = Path(
    os.environ.get("LIFTREC_SHARED_DATA", Path(__file__).resolve().parents[4] / "shared" / "data")
)


def check_contract(df: pd.DataFrame, schema: Schema) -> None:
    """Assert the canonical interactions contract (columns, dtypes, sorting, dense codes, schema)."""
    assert list(df.columns) == [ROW_ID, USER_ID, TS, LABEL, *schema.fields]
    for col in df.columns:
        assert df[col].dtype == (np.int8 if col == LABEL else np.int64), col
    n = len(df)
    assert n > 0
    np.testing.assert_array_equal(df[ROW_ID].to_numpy(), np.arange(n))
    assert (df[LABEL].to_numpy() == 1).all()
    user, ts = df[USER_ID].to_numpy(), df[TS].to_numpy()
    np.testing.assert_array_equal(user, df[schema.user_field].to_numpy())
    assert ((user[1:] > user[:-1]) | ((user[1:] == user[:-1]) & (ts[1:] >= ts[:-1]))).all(), "not sorted"
    assert len(schema.cardinalities) == len(schema.fields)
    for field, card in zip(schema.fields, schema.cardinalities, strict=True):
        codes = df[field].to_numpy()
        assert codes.min() >= 0 and codes.max() == card - 1, field
        np.testing.assert_array_equal(np.unique(codes[codes > 0]), np.arange(1, card), err_msg=field)  # dense
    sides = schema.user_fields + schema.item_fields + schema.context_fields
    assert sorted(sides) == sorted(schema.fields) and len(set(sides)) == len(sides)
    assert schema.user_field in schema.user_fields and schema.item_field in schema.item_fields
    assert set(schema.query_fields) <= set(schema.fields) and schema.query_fields
    assert schema.time_unit == "s"
    assert (user >= 1).all()  # every row has a user


@pytest.fixture
def contract() -> Callable[[pd.DataFrame, Schema], None]:
    return check_contract


@pytest.fixture
def write_raw(tmp_path: Path) -> Callable[..., Path]:
    """Write ``{name: text or bytes}`` into a fresh folder and return it."""

    def write(files: dict[str, str | bytes], folder: str = "raw") -> Path:
        d = tmp_path / folder
        d.mkdir(exist_ok=True)
        for name, content in files.items():
            (d / name).write_bytes(content if isinstance(content, bytes) else content.encode("utf8"))
        return d

    return write


@pytest.fixture
def shared_data() -> Callable[[str], Path]:
    """Path of a real sample folder under ../shared/data, skipping the test when it is absent."""

    def get(sub: str) -> Path:
        path = SHARED_DATA / sub
        if not path.is_dir():
            pytest.skip(f"real data sample {path} not available")
        return path

    return get
