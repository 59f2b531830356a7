"""Catalog datasets write atomically: a failed save keeps the previous output and leaves no temp file."""

from __future__ import annotations

import os
import stat

import numpy as np
import pandas as pd
import pytest
import torch
from kedro.io import DatasetError

from liftrec.datasets import (
    ArrayDictDataset,
    AtomicJSONDataset,
    AtomicParquetDataset,
    AtomicTextDataset,
    TorchStateDataset,
)


def test_round_trips(tmp_path):
    df = pd.DataFrame({"a": [1, 2], "b": [0.5, 1.5]})
    ds = AtomicParquetDataset(str(tmp_path / "x" / "t.parquet"))
    assert not ds.exists()
    ds.save(df)
    pd.testing.assert_frame_equal(ds.load(), df)
    js = AtomicJSONDataset(str(tmp_path / "m.json"))
    js.save({"auc": np.float32(0.5), "curve": np.arange(3)})
    assert js.load() == {"auc": 0.5, "curve": [0, 1, 2]}
    arr = ArrayDictDataset(str(tmp_path / "w"))
    arr.save({"lo": np.arange(4), "hi": np.arange(4) + 2})
    loaded = arr.load()
    assert isinstance(loaded["lo"], np.memmap) and loaded["hi"].tolist() == [2, 3, 4, 5]
    st = TorchStateDataset(str(tmp_path / "m.pt"))
    st.save({"state_dict": {"w": torch.ones(2)}, "config": {"dim": 2}})
    assert st.load()["config"] == {"dim": 2}
    txt = AtomicTextDataset(str(tmp_path / "r.md"))
    txt.save("# hi\n")
    assert txt.load() == "# hi\n"


def test_failed_parquet_save_keeps_the_old_file(tmp_path):
    ds = AtomicParquetDataset(str(tmp_path / "t.parquet"))
    ds.save(pd.DataFrame({"a": [1]}))
    with pytest.raises(DatasetError):  # Kedro wraps the save's own error
        ds.save(pd.DataFrame({"a": [object()]}))  # pyarrow cannot serialise this: fails mid-save
    pd.testing.assert_frame_equal(ds.load(), pd.DataFrame({"a": [1]}))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.parquet"]


def test_failed_array_dict_save_keeps_the_whole_old_directory(tmp_path):
    ds = ArrayDictDataset(str(tmp_path / "w"))
    ds.save({"a": np.arange(3), "b": np.ones(2)})

    class Boom:
        def __array__(self, *a, **k):
            raise RuntimeError("crash while writing the second array")

    with pytest.raises(DatasetError, match="crash while writing the second array"):
        ds.save({"a": np.zeros(5), "b": Boom()})
    loaded = ds.load()
    assert loaded["a"].tolist() == [0, 1, 2] and loaded["b"].tolist() == [1.0, 1.0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w"]


def test_outputs_get_the_usual_permissions_not_the_temp_files_private_ones(tmp_path):
    mask = os.umask(0o022)
    os.umask(mask)
    if mask != 0o022:
        pytest.skip("the expected modes below assume umask 022")
    txt = AtomicTextDataset(str(tmp_path / "r.md"))
    txt.save("# hi\n")
    arr = ArrayDictDataset(str(tmp_path / "w"))
    arr.save({"lo": np.arange(4)})
    assert stat.S_IMODE((tmp_path / "r.md").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "w").stat().st_mode) == 0o755
