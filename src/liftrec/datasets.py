"""Project datasets for the catalog. Every save is atomic: write a temporary sibling, then rename.

A crash mid-save therefore never leaves a truncated file that a later run (or the change-aware
cache) would trust: the old output stays in place or the path does not exist at all.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from kedro.io import AbstractDataset


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp / mkdtemp create 0600 / 0700 entries; a renamed output should get the usual mode
_FILE_MODE, _DIR_MODE = 0o666 & ~_umask(), 0o777 & ~_umask()


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, _FILE_MODE)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextmanager
def atomic_dir(path: Path) -> Iterator[Path]:
    """Yield a fresh temporary directory beside ``path``; on success swap it in for ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, _DIR_MODE)
        old = path.with_name(f".{path.name}.old")
        if old.exists():
            shutil.rmtree(old)
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
        if old.exists():
            shutil.rmtree(old)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


class _FileDataset(AbstractDataset):
    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._path = Path(filepath)
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._path)}

    def _exists(self) -> bool:
        return self._path.exists()


class AtomicParquetDataset(_FileDataset):
    """A pandas DataFrame as one Parquet file, written atomically."""

    def load(self) -> pd.DataFrame:
        import pyarrow.parquet as pq

        # split_blocks + self_destruct free each Arrow column as it is converted: peak ~1x the
        # table instead of ~2.4x with pd.read_parquet (29 GiB vs 12 GiB for 200 M rows).
        table = pq.read_table(self._path)
        return table.to_pandas(split_blocks=True, self_destruct=True)

    def save(self, data: pd.DataFrame) -> None:
        with atomic_path(self._path) as tmp:
            data.to_parquet(tmp, index=False)


class AtomicJSONDataset(_FileDataset):
    """A JSON-serialisable object (dict, list), written atomically and pretty-printed."""

    def load(self) -> Any:
        return json.loads(self._path.read_text())

    def save(self, data: Any) -> None:
        with atomic_path(self._path) as tmp:
            tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=_json_default) + "\n")


class AtomicTextDataset(_FileDataset):
    """A text file (a Markdown report), written atomically."""

    def load(self) -> str:
        return self._path.read_text()

    def save(self, data: str) -> None:
        with atomic_path(self._path) as tmp:
            tmp.write_text(data)


class ArrayDictDataset(_FileDataset):
    """A dict of numpy arrays as a directory of ``.npy`` files, memory-mapped on load.

    The directory is swapped in whole, so readers see all arrays of one save or none.
    """

    def __init__(self, filepath: str, mmap: bool = True, metadata: dict[str, Any] | None = None) -> None:
        super().__init__(filepath, metadata)
        self._mmap = mmap

    def load(self) -> dict[str, np.ndarray]:
        mode = "r" if self._mmap else None
        return {p.stem: np.load(p, mmap_mode=mode) for p in sorted(self._path.glob("*.npy"))}

    def save(self, data: dict[str, np.ndarray]) -> None:
        with atomic_dir(self._path) as tmp:
            for key, arr in data.items():
                np.save(tmp / f"{key}.npy", np.asarray(arr))

    def _exists(self) -> bool:
        return self._path.is_dir() and any(self._path.glob("*.npy"))


class TorchStateDataset(_FileDataset):
    """A torch ``state_dict`` (or a dict of them plus plain values), saved with torch.save atomically."""

    def load(self) -> dict[str, Any]:
        import torch

        return torch.load(self._path, map_location="cpu", weights_only=True)

    def save(self, data: dict[str, Any]) -> None:
        import torch

        with atomic_path(self._path) as tmp:
            torch.save(data, tmp)


class ImageDataset(_FileDataset):
    """PNG bytes produced by a node (a figure rendered in the library), written atomically."""

    def load(self) -> bytes:
        return self._path.read_bytes()

    def save(self, data: bytes) -> None:
        with atomic_path(self._path) as tmp:
            tmp.write_bytes(data)


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
