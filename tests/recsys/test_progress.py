"""Progress bars: quiet under CI or without a terminal, a real tqdm bar when interactive, and the
long-running library paths (raw reads, datastore encoding, BM25 search, training) all use the one factory."""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn
from tqdm.auto import tqdm

import liftrec.recsys.data.loaders._csv as csv_mod
import liftrec.recsys.progress as progress_mod
import liftrec.recsys.retrieval.bm25 as bm25_mod
import liftrec.recsys.retrieval.datastore as datastore_mod
import liftrec.recsys.training.callbacks as callbacks_mod
from liftrec.recsys.data.loaders import LoaderConfig, load_raw
from liftrec.recsys.progress import Progress, interactive, progress
from liftrec.recsys.retrieval.bm25 import BM25Config, BM25Index
from liftrec.recsys.retrieval.datastore import DatastoreConfig, encode_windows
from liftrec.recsys.training.callbacks import ProgressCallback


class _Terminal(io.StringIO):
    """A stderr stand-in that claims to be a terminal (or not) and keeps what tqdm draws."""

    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def _session(monkeypatch: pytest.MonkeyPatch, tty: bool = True, ci: str | None = None) -> _Terminal:
    """Set CI and swap stderr for a (non-)terminal. Called inside the test body: pytest restores its
    own capture stream between the setup and call phases, so a fixture could not do it."""
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    term = _Terminal(tty)
    monkeypatch.setattr("sys.stderr", term)
    return term


@pytest.mark.parametrize("ci", ["true", "TRUE", "1"])
def test_quiet_under_ci_even_on_a_terminal(monkeypatch: pytest.MonkeyPatch, ci: str) -> None:
    terminal = _session(monkeypatch, ci=ci)
    assert not interactive()
    bar = progress(10, "work", "row")
    assert bar.bar is None and not bar.enabled
    bar.update(4)
    bar.set_postfix(loss="0.1")
    bar.close()
    assert bar.n == 4 and terminal.getvalue() == ""


def test_quiet_when_stderr_is_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    _session(monkeypatch, tty=False)
    assert not interactive()
    assert progress(10, "work").bar is None
    _session(monkeypatch, tty=True, ci="false")  # CI set to something else does not silence a terminal
    assert interactive()


def test_a_real_bar_when_interactive(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = _session(monkeypatch)
    assert interactive()
    with progress(5, "encode", "window") as bar:
        assert isinstance(bar.bar, tqdm) and bar.enabled
        bar.update(2)
        bar.set_postfix(rows_per_s="100")
        bar.update(3)
    assert bar.n == 5
    assert "encode" in terminal.getvalue() and "window" in terminal.getvalue()


def test_enabled_overrides_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    _session(monkeypatch)
    assert progress(3, "x", enabled=False).bar is None
    monkeypatch.setenv("CI", "true")
    forced = progress(3, "x", enabled=True)
    assert isinstance(forced.bar, tqdm)
    forced.close()


def test_summary_line_is_logged_once_and_not_after_a_failure(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("liftrec.test_progress")
    with caplog.at_level(logging.INFO, logger=log.name):
        bar = progress(None, "read file", "B", log=log)
        bar.update(3_000_000)
        bar.close("1,000 rows")
        bar.close()
        with pytest.raises(RuntimeError), progress(10, "broken", "row", log=log) as failing:
            failing.update(1)
            raise RuntimeError("boom")
    lines = [r.getMessage() for r in caplog.records]
    assert (
        len(lines) == 1 and lines[0].startswith("read file: 3 MB in ") and lines[0].endswith(", 1,000 rows)")
    )
    assert progress(1, "quiet").log is None  # no logger, no line


class _Spy:
    """Wraps the real factory with the bar forced on, and records every bar it made."""

    def __init__(self) -> None:
        self.bars: list[tuple[dict[str, Any], Progress]] = []

    def __call__(self, total: Any, desc: str, unit: str = "it", **kw: Any) -> Progress:
        asked = dict(total=total, desc=desc, unit=unit, **kw)
        kw["enabled"] = kw.get("enabled", None) is not False  # force the drawing path unless told off
        bar = progress(total, desc, unit, **kw)
        self.bars.append((asked, bar))
        return bar


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> _Spy:
    monkeypatch.setenv("CI", "true")  # the spy forces bars on; nothing else may
    s = _Spy()
    for mod in (csv_mod, datastore_mod, bm25_mod, callbacks_mod):
        monkeypatch.setattr(mod, "progress", s)
    return s


def test_raw_reads_show_bytes_and_rows(spy: _Spy, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rng = np.random.default_rng(0)
    n = 8000
    lines = [
        f"{u},{i},{i % 50},pv,{t}"
        for u, i, t in zip(
            rng.integers(1, 300, n),
            rng.integers(1, 5000, n),
            rng.integers(1511539200, 1512316800, n),
            strict=True,
        )
    ]
    path = tmp_path / "UserBehavior.csv"
    path.write_text("\n".join(lines) + "\n")
    with caplog.at_level(logging.INFO, logger=csv_mod.logger.name):
        df, _ = load_raw("taobao", tmp_path, LoaderConfig(block_size=1 << 16))  # several blocks
    assert len(df) == n
    ((asked, bar),) = spy.bars
    assert (
        asked["unit"] == "B" and asked["total"] == path.stat().st_size and "UserBehavior.csv" in asked["desc"]
    )
    assert bar.n == path.stat().st_size and bar.bar is not None
    assert any(f"{n:,} rows" in r.getMessage() and "rows/s" in r.getMessage() for r in caplog.records)


class _SumEncoder(nn.Module):
    """encode(fields (B,L,M), labels (B,L)) -> (B, 2): a deterministic stand-in for the encoder."""

    out_dim = 2

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(1))

    def encode(self, fields: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return torch.stack([fields.float().sum((1, 2)), labels.float().sum(1)], 1) * self.w


def test_datastore_encoding_counts_windows(spy: _Spy, caplog: pytest.LogCaptureFixture) -> None:
    X = np.arange(20, dtype=np.int64).reshape(10, 2) % 5
    y = np.arange(10) % 2
    lo = np.array([0, 0, 2, 5, 3, 0, 1])
    hi = np.array([1, 0, 4, 9, 3, 2, 6])  # two empty windows
    cfg = DatastoreConfig(batch_size=2, dtype="float32", device="cpu")
    with caplog.at_level(logging.INFO, logger=datastore_mod.logger.name):
        out = encode_windows(_SumEncoder(), X, y, np.arange(10), lo, hi, 3, cfg, desc="datastore hist")
    assert out.shape == (7, 2) and (out[[1, 4]] == 0).all()
    ((asked, bar),) = spy.bars
    assert asked["unit"] == "window" and asked["total"] == 5 and asked["desc"] == "datastore hist"
    assert bar.n == 5 and bar.bar is not None
    assert any(r.getMessage().startswith("datastore hist: 5 windows in") for r in caplog.records)


def test_bm25_search_counts_queries_when_it_takes_several_batches(spy: _Spy) -> None:
    rng = np.random.default_rng(1)
    keys = rng.integers(0, 4, (50, 3))
    index = BM25Index.build(
        keys, np.arange(50), np.arange(50) % 7, np.arange(50), BM25Config(k=3, query_batch=8)
    )
    many = index.search(keys[:30])
    ((asked, bar),) = spy.bars
    assert asked["unit"] == "query" and asked["total"] == 30 and bar.n == 30 and bar.bar is not None
    few = index.search(keys[:8])  # one kernel call: no bar
    assert spy.bars[1][0]["enabled"] is False and spy.bars[1][1].bar is None
    np.testing.assert_array_equal(few.row_ids, many.row_ids[:8])


def test_training_bar_comes_from_the_same_factory(spy: _Spy) -> None:
    assert not ProgressCallback().enabled  # CI=true
    cb = ProgressCallback(enabled=True, refresh_every=1)
    cb.on_epoch_begin(1, {"batches": 2})
    for step in (1, 2):
        cb.on_batch_end(step, {"loss": torch.tensor(0.5)})
    ((asked, bar),) = spy.bars
    assert asked["unit"] == "batch" and asked["total"] == 2 and bar.n == 2
    cb.on_epoch_end(1, {})
    assert cb._bar is None and bar._closed
    assert not hasattr(callbacks_mod, "_interactive")  # one quiet rule, in liftrec.recsys.progress
    assert callbacks_mod.interactive is progress_mod.interactive
