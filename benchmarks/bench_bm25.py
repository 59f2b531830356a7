"""BM25 retrieval benchmark: the numba engine vs rank-bm25, side by side in one run.

Synthetic 6-field Zipf-skewed datastore (STACK.md): user, item, category, seller, brand (the last
three functions of the item) and weekday (7 values); ``--behaviour`` replaces seller by a
behaviour field whose first value covers 85 % of rows (a negative paper IDF: the hard case).
Queries are fresh rows of the same generator (users from the same pool, so the own-user
exclusion bites). K = 10.

For N <= --oracle-max-n (default 1M): engine (default config: paper IDF, own user excluded) and
engine with the ``rank_bm25`` IDF vs ``rank_bm25.BM25Okapi`` (through ``OracleBM25``, same IDF and
exclusion) on a sample of queries, with a top-K identity check (ids equal, scores within 1e-9);
larger N: the engine alone (100M needs ``--full``). Each ``--tie-break`` rule (default: both) gets
its own engine index and is checked against the oracle under the same rule. Wall q/s uses both
cores; q per CPU-second (all threads) and the 1-minute load average are recorded because the
machine may be shared. Prints a Markdown table and writes JSON.

    python benchmarks/bench_bm25.py --sizes 100000 1000000 10000000
    python benchmarks/bench_bm25.py --sizes 100000000 --full      # ~12 GB peak RSS, ~5 min
    python benchmarks/bench_bm25.py --sizes 1000000 --tie-break shuffled latest
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

from liftrec.recsys.retrieval.bm25 import BM25Config, BM25Index
from liftrec.recsys.retrieval.oracle import OracleBM25

FIELDS = ("user", "item", "category", "seller", "brand", "weekday")
BEHAVIOUR_SHARES = (0.85, 0.08, 0.05, 0.02)  # --behaviour: replaces "seller"; 85 % -> negative paper IDF


def _zipf(rng: np.random.Generator, n_values: int, a: float, size: int) -> np.ndarray:
    """Codes 1..n_values with P(rank r) ~ r^-a, in a random code order (int32)."""
    cdf = np.cumsum(np.arange(1, n_values + 1, dtype=np.float64) ** -a)
    cdf /= cdf[-1]
    ranks = np.searchsorted(cdf, rng.random(size) * (1 - 1e-12))
    perm = rng.permutation(n_values).astype(np.int32) + 1
    return perm[ranks]


def make_rows(n: int, n_total: int, seed: int, behaviour: bool = False) -> dict[str, np.ndarray]:
    """n rows of the synthetic datastore whose vocabulary is sized for n_total rows.

    user ~ Zipf(0.8) over n_total / 50 users; item ~ Zipf(1.05) over n_total / 20 items; category,
    seller and brand are functions of the item (Zipf-skewed over n_total / 500 (at most 20k),
    n_total / 200 and n_total / 100 values); weekday uniform over 7.
    """
    rng = np.random.default_rng(seed)
    n_users, n_items = max(10, n_total // 50), max(10, n_total // 20)
    n_cats = max(5, min(20_000, n_total // 500))
    n_sellers, n_brands = max(5, n_total // 200), max(5, n_total // 100)
    vocab = np.random.default_rng(12345)  # item -> category / seller / brand, shared by rows and queries
    item_cat = _zipf(vocab, n_cats, 1.0, n_items + 1)
    item_seller = _zipf(vocab, n_sellers, 0.9, n_items + 1)
    item_brand = _zipf(vocab, n_brands, 0.9, n_items + 1)
    keys = np.empty((n, len(FIELDS)), np.int32)
    users = _zipf(rng, n_users, 0.8, n)
    keys[:, 0] = users
    item = _zipf(rng, n_items, 1.05, n)
    keys[:, 1] = item
    keys[:, 2] = item_cat[item]
    if behaviour:
        keys[:, 3] = np.searchsorted(np.cumsum(BEHAVIOUR_SHARES), rng.random(n) * 0.999999) + 1
    else:
        keys[:, 3] = item_seller[item]
    keys[:, 4] = item_brand[item]
    keys[:, 5] = rng.integers(1, 8, n, dtype=np.int32)
    ts = rng.integers(0, 9 * 86400, n, dtype=np.int64)
    return dict(keys=keys, users=users.astype(np.int64), ts=ts)


def _rss_mb() -> tuple[float, float]:
    """(current, peak) resident set of this process in MB (Linux /proc)."""
    cur = peak = 0.0
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                cur = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
    return cur, peak


def _reset_peak() -> None:
    try:  # Linux: writing 5 to clear_refs resets VmHWM to the current RSS
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass


def _timed_search(index: BM25Index, queries: dict, repeat: int = 3) -> tuple[object, float, float]:
    """Best of ``repeat`` runs: (result, queries per wall second, queries per CPU second of all threads)."""
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        res = index.search(queries["keys"], query_users=queries["users"])
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    nq = len(queries["keys"])
    return res, nq / best, nq / best_cpu


def run_size(
    n: int, n_queries: int, n_oracle: int, with_oracle: bool, seed: int, behaviour: bool, ties: list[str]
) -> list[dict]:
    """Benchmark one datastore size under each tie rule; returns one JSON-able record per rule."""
    t0 = time.perf_counter()
    rows = make_rows(n, n, seed, behaviour)
    queries = make_rows(n_queries, n, seed + 1, behaviour)
    generate_s = round(time.perf_counter() - t0, 1)
    tiny = BM25Config(k=10)  # load the compiled kernels before anything is timed
    BM25Index.build(rows["keys"][:100], np.arange(100), rows["users"][:100], rows["ts"][:100], tiny)
    oracle = None
    out = []
    for tie in ties:
        rec = dict(n_rows=n, behaviour_field=behaviour, tie_break=tie, generate_s=generate_s)
        oracle = run_rule(rec, rows, queries, n_oracle, with_oracle, oracle)
        out.append(rec)
        print(json.dumps(rec), flush=True)
    return out


def run_rule(
    rec: dict, rows: dict, queries: dict, n_oracle: int, with_oracle: bool, oracle: OracleBM25 | None
) -> OracleBM25 | None:
    """Engine (and oracle) under ``rec["tie_break"]``; fills ``rec``, returns the oracle for reuse."""
    n, tie = rec["n_rows"], rec["tie_break"]
    base_rss, _ = _rss_mb()
    _reset_peak()
    t0 = time.perf_counter()
    cfg = BM25Config(k=10, tie_break=tie)
    index = BM25Index.build(rows["keys"], np.arange(n, dtype=np.int64), rows["users"], rows["ts"], cfg)
    rec["engine_build_s"] = round(time.perf_counter() - t0, 2)
    rec["engine_index_mb"] = round(index.nbytes / 2**20, 1)
    rec["engine_build_peak_rss_mb"] = round(_rss_mb()[1] - base_rss, 1)
    index.search(queries["keys"][:64], query_users=queries["users"][:64])  # compile / warm caches
    rec["load_avg_1min"] = os.getloadavg()[0]
    _, rec["engine_qps_paper"], rec["engine_q_per_cpu_s_paper"] = _timed_search(index, queries)
    comp = index.with_config(BM25Config(k=10, idf="rank_bm25", tie_break=tie))  # same arrays, rank-bm25's IDF
    res, qps, per_cpu = _timed_search(comp, queries)
    rec["engine_qps_rank_bm25_idf"], rec["engine_q_per_cpu_s_rank_bm25_idf"] = qps, per_cpu
    rec["engine_peak_rss_mb"] = round(_rss_mb()[1], 1)
    if with_oracle:
        _reset_peak()
        t0 = time.perf_counter()
        cfg = BM25Config(k=10, idf="rank_bm25", tie_break=tie)
        if oracle is None:
            oracle = OracleBM25.build(rows["keys"], np.arange(n), rows["users"], rows["ts"], cfg)
        else:  # rank-bm25's tables are shared; only the tie order is recomputed
            oracle = oracle.with_config(cfg)
        rec["rank_bm25_build_s"] = round(time.perf_counter() - t0, 1)
        sample = slice(0, n_oracle)
        t0 = time.perf_counter()
        ref = oracle.search(queries["keys"][sample], query_users=queries["users"][sample])
        rec["rank_bm25_qps"] = n_oracle / (time.perf_counter() - t0)
        rec["rank_bm25_peak_rss_mb"] = round(_rss_mb()[1] - base_rss, 1)
        same_ids = (ref.row_ids == res.row_ids[sample]).all(axis=1)
        close = np.isclose(ref.scores, res.scores[sample], rtol=0, atol=1e-9).all(axis=1)
        rec["identical_top_k"] = f"{int((same_ids & close).sum())}/{n_oracle}"
        rec["speedup_vs_rank_bm25"] = rec["engine_qps_rank_bm25_idf"] / rec["rank_bm25_qps"]
    return oracle


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    ap.add_argument("--queries", type=int, default=50_000, help="engine queries per size")
    ap.add_argument("--oracle-queries", type=int, default=30, help="rank-bm25 queries (~1.5 q/s at 1M)")
    ap.add_argument("--oracle-max-n", type=int, default=1_000_000, help="largest N run with rank-bm25")
    ap.add_argument("--full", action="store_true", help="allow sizes above 10M (100M: ~10 GB RAM, long)")
    ap.add_argument("--behaviour", action="store_true", help="seller -> behaviour (85 %% one value)")
    ap.add_argument("--tie-break", nargs="+", choices=["shuffled", "latest"], default=["shuffled", "latest"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="/tmp/liftrec_bench_bm25.json")
    args = ap.parse_args()
    if not args.full and max(args.sizes) > 10_000_000:
        ap.error("sizes above 10M need --full")
    results = []
    for n in args.sizes:
        with_oracle = n <= args.oracle_max_n
        results += run_size(
            n, args.queries, args.oracle_queries, with_oracle, args.seed, args.behaviour, args.tie_break
        )
    env = dict(cpus=os.cpu_count(), machine=platform.machine(), python=platform.python_version())
    with open(args.out, "w") as fh:
        json.dump(dict(env=env, args=vars(args), k=10, results=results), fh, indent=1)
    print(
        "\n| N | ties | engine q/s (paper) | engine q/s (rank_bm25 IDF) | rank-bm25 q/s | ratio "
        "| identical top-K | index MB | build s | peak RSS MB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['n_rows']:,} | {r['tie_break']} | {r['engine_qps_paper']:,.0f} "
            f"| {r['engine_qps_rank_bm25_idf']:,.0f} "
            f"| {r.get('rank_bm25_qps', float('nan')):.2f} "
            f"| {r.get('speedup_vs_rank_bm25', float('nan')):,.0f}x "
            f"| {r.get('identical_top_k', '-')} | {r['engine_index_mb']:,.0f} | {r['engine_build_s']} "
            f"| {r['engine_peak_rss_mb']:,.0f} |"
        )


if __name__ == "__main__":
    main()
