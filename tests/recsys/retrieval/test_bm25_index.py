"""BM25Index mechanics: save / load, batching, threads, and the pure-Python fallback without numba."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from liftrec.recsys.errors import DataError
from liftrec.recsys.retrieval import bm25_kernels
from liftrec.recsys.retrieval.bm25 import BM25Config, BM25Index

TIES = ("shuffled", "latest")


def _table(seed: int = 0, n: int = 800, f: int = 4) -> dict:
    rng = np.random.default_rng(seed)
    keys = np.minimum(rng.zipf(1.3, (n, f)), 40)
    keys[:, 0] = np.where(rng.random(n) < 0.8, 1, keys[:, 0])  # a majority value: negative paper IDF
    users, ts = rng.integers(0, 40, n), rng.integers(0, 100, n)
    return dict(keys=keys, row_ids=np.arange(n) + 1000, users=users, ts=ts)


def _queries(seed: int = 1, q: int = 50, f: int = 4) -> dict:
    rng = np.random.default_rng(seed)
    keys = np.minimum(rng.zipf(1.3, (q, f)), 45)
    return dict(keys=keys, users=rng.integers(0, 45, q), max_ts=rng.integers(0, 110, q))


def _search(index: BM25Index, qs: dict):
    return index.search(qs["keys"], query_users=qs["users"], max_ts=qs["max_ts"])


@pytest.mark.parametrize("tie", TIES)
@pytest.mark.parametrize("mmap", [True, False])
def test_save_load_round_trip(tmp_path: Path, mmap: bool, tie: str) -> None:
    t, qs = _table(), _queries()
    cfg = BM25Config(k=7, idf="paper", tie_break=tie, tie_seed=4)
    index = BM25Index.build(t["keys"], t["row_ids"], t["users"], t["ts"], cfg)
    index.save(tmp_path / "bm25")
    assert (tmp_path / "bm25" / "postings.npy").exists()
    loaded = BM25Index.load(tmp_path / "bm25", mmap=mmap)
    assert loaded.cfg == index.cfg and loaded.n_rows == index.n_rows
    if mmap:
        assert isinstance(loaded.table, np.memmap)
    a, b = _search(index, qs), _search(loaded, qs)
    np.testing.assert_array_equal(a.row_ids, b.row_ids)
    np.testing.assert_array_equal(a.scores, b.scores)


def test_load_with_another_idf_equals_a_fresh_build(tmp_path: Path) -> None:
    t, qs = _table(), _queries()
    BM25Index.build(t["keys"], t["row_ids"], t["users"], t["ts"], BM25Config(idf="paper")).save(tmp_path)
    cfg = BM25Config(k=9, idf="lucene", exclude_own_user=False)
    fresh = BM25Index.build(t["keys"], t["row_ids"], t["users"], t["ts"], cfg)
    loaded = BM25Index.load(tmp_path, cfg=cfg)
    np.testing.assert_array_equal(_search(fresh, qs).row_ids, _search(loaded, qs).row_ids)
    view = loaded.with_config(cfg)  # arrays shared, IDFs of the new variant
    assert view.table is loaded.table
    np.testing.assert_array_equal(_search(fresh, qs).scores, _search(view, qs).scores)


def test_the_tie_rule_is_part_of_the_index(tmp_path: Path) -> None:
    """Positions follow the tie order: another rule or seed needs a rebuild, and old formats are refused."""
    t = _table()
    index = BM25Index.build(t["keys"], t["row_ids"], t["users"], t["ts"], BM25Config(tie_seed=1))
    index.save(tmp_path)
    assert json.loads((tmp_path / "meta.json").read_text())["config"]["tie_break"] == "shuffled"
    for other in (BM25Config(tie_seed=2), BM25Config(tie_break="latest")):
        with pytest.raises(ValueError, match="rebuild"):
            index.with_config(other)
        with pytest.raises(DataError, match="rebuild"):
            BM25Index.load(tmp_path, cfg=other)
    latest = BM25Index.build(t["keys"], t["row_ids"], t["users"], t["ts"], BM25Config(tie_break="latest"))
    latest.with_config(BM25Config(tie_break="latest", tie_seed=9, k=3))  # the seed means nothing there
    meta = json.loads((tmp_path / "meta.json").read_text())
    (tmp_path / "meta.json").write_text(json.dumps({**meta, "format": 1}))  # positions always latest-first
    with pytest.raises(DataError, match="format"):
        BM25Index.load(tmp_path)


@pytest.mark.parametrize("tie", TIES)
def test_batches_and_threads_do_not_change_results(tie: str) -> None:
    t, qs = _table(), _queries(q=200)
    base = BM25Index.build(t["keys"], t["row_ids"], t["users"], t["ts"], BM25Config(k=10, tie_break=tie))
    ref = _search(base, qs)
    for cfg in (
        BM25Config(k=10, query_batch=7, threads=1, tie_break=tie),
        BM25Config(k=10, query_batch=64, threads=2, tie_break=tie),
    ):
        other = BM25Index.build(t["keys"], t["row_ids"], t["users"], t["ts"], cfg)
        res = _search(other, qs)
        np.testing.assert_array_equal(res.row_ids, ref.row_ids)
        np.testing.assert_array_equal(res.scores, ref.scores)


def test_exclusion_switch_and_unknown_users() -> None:
    t, qs = _table(), _queries()
    off = BM25Index.build(t["keys"], t["row_ids"], t["users"], t["ts"], BM25Config(exclude_own_user=False))
    on = BM25Index.build(t["keys"], t["row_ids"], t["users"], t["ts"], BM25Config(exclude_own_user=True))
    user_of = dict(zip(t["row_ids"].tolist(), t["users"].tolist(), strict=True))
    res_on = on.search(qs["keys"], query_users=qs["users"])
    for q, rows in enumerate(res_on.row_ids):
        assert all(user_of[r] != qs["users"][q] for r in rows if r >= 0)
    # user ids beyond int32 go through a code book: same exclusions
    big = BM25Index.build(t["keys"], t["row_ids"], t["users"] * 10**12 - 7, t["ts"], BM25Config())
    res_big = big.search(qs["keys"], query_users=qs["users"] * 10**12 - 7)
    np.testing.assert_array_equal(res_big.row_ids, res_on.row_ids)
    assert big.users.size > 0 and on.users.size == 0
    # users absent from the index exclude nothing; with the switch off nothing is excluded
    expected = off.search(qs["keys"], query_users=qs["users"]).row_ids
    for index, stranger in ((on, 10**9), (on, -3), (on, 2**40), (big, 5)):
        res = index.search(qs["keys"], query_users=np.full(len(qs["keys"]), stranger))
        np.testing.assert_array_equal(res.row_ids, expected)


def test_index_size_and_empty_index() -> None:
    t = _table(n=1000, f=4)
    index = BM25Index.build(t["keys"], t["row_ids"], t["users"], t["ts"], BM25Config())
    assert index.postings.dtype == np.int32 and index.table.dtype == np.int32
    assert index.nbytes < 1000 * (4 * 4 + 4 * 5 + 16) + 64 * index.ptr.size
    empty = BM25Index.build(np.zeros((0, 3), np.int64), [], [], [], BM25Config(k=2))
    res = empty.search(np.ones((2, 3), np.int64))
    assert (res.row_ids == -1).all()


_FALLBACK = """
import json, logging, sys
import numpy as np
logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
from liftrec.recsys.retrieval import bm25_kernels
from liftrec.recsys.retrieval.bm25 import BM25Config, BM25Index
t = json.loads(sys.argv[1])
cfg = BM25Config(k=6, tie_break=t["tie"])
index = BM25Index.build(*(np.array(t[a]) for a in ("keys", "row_ids", "users", "ts")), cfg)
res = index.search(np.array(t["q"]), query_users=np.array(t["qu"]), max_ts=np.array(t["qt"]))
print(json.dumps(dict(numba=bm25_kernels.HAVE_NUMBA, ids=res.row_ids.tolist(), scores=res.scores.tolist())))
"""


@pytest.mark.parametrize(("how", "tie"), [("env", "shuffled"), ("import_error", "latest")])
def test_pure_python_fallback_matches(how: str, tie: str) -> None:
    """Without numba the same kernels run as plain Python, with a warning, and give the same top-K."""
    t, qs = _table(n=150), _queries(q=8)
    payload = {name: np.asarray(v).tolist() for name, v in t.items()}
    payload.update(q=qs["keys"].tolist(), qu=qs["users"].tolist(), qt=qs["max_ts"].tolist(), tie=tie)
    env = dict(os.environ)
    script = _FALLBACK
    if how == "env":
        env["LIFTREC_NO_NUMBA"] = "1"
    else:  # numba present on disk but not importable
        script = "import sys; sys.modules['numba'] = None\n" + script
    out = subprocess.run(
        [sys.executable, "-c", script, json.dumps(payload)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    got = json.loads(out.stdout)
    assert got["numba"] is False and "numba is not importable" in out.stderr
    ref = BM25Index.build(t["keys"], t["row_ids"], t["users"], t["ts"], BM25Config(k=6, tie_break=tie))
    res = _search(ref, qs)
    np.testing.assert_array_equal(np.array(got["ids"]), res.row_ids)
    np.testing.assert_allclose(np.array(got["scores"]), res.scores, rtol=0, atol=0)
    assert bm25_kernels.HAVE_NUMBA  # this process keeps the compiled engine
