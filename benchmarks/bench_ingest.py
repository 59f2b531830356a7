"""Data-preparation benchmark: raw Taobao-format CSV -> canonical rows -> split -> negatives -> windows.

Generates a ``UserBehavior.csv`` of N rows in the official Taobao layout (vectorised: users grouped
with ascending timestamps inside the 9-day window, a few stray timestamps outside it, Zipf-skewed
items, the real behaviour mix), then times each stage in a fresh subprocess, so that each stage's
peak resident memory is its own:

1. ``ingest``: ``liftrec.recsys.data.loaders.load_raw("taobao", ...)``;
2. ``split``: ``liftrec.recsys.data.split.split_by_time`` (PROTOCOL.md's Taobao time points);
3. ``negatives``: ``liftrec.recsys.data.negatives.sample_negatives`` (CTR: 1 negative per positive);
4. ``windows``: ``liftrec.recsys.data.sequences.build_windows`` (default ``WindowConfig``).

Stages 2-4 read their input from the Parquet file written (untimed) by the previous stage with
``pd.read_parquet``, as the project's ``AtomicParquetDataset`` does. The peak of that read is
reported on its own ("read peak"); on Linux the process's peak counter (``VmHWM``) is then reset
(``/proc/self/clear_refs``), so "peak RSS" is the stage's own peak, input table included ("input
RSS" is what the process holds when the timed call starts). The CSV is generated only when the
``ingest`` stage runs, so ``--stages split,negatives,windows`` reuses an earlier ``rows.parquet``.
The Parquet write of a stage's output (input still alive, as in a Kedro run) is measured on its own
too ("write peak").
A stage whose module is not importable is skipped with a note. Prints a table and writes JSON.

Usage::

    python benchmarks/bench_ingest.py --rows 1000000 --out-dir /tmp/liftrec_bench_ingest
    python benchmarks/bench_ingest.py --rows 30000000 --stages split,negatives,windows
    python benchmarks/bench_ingest.py --rows 30000000 --stages split,negatives,windows \
        --src /tmp/old_checkout/src --tag _before     # the same stages on an older library
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

WINDOW = (1511539200, 1512316800)  # [2017-11-25T00:00+08:00, 2017-12-04T00:00+08:00)
BEHAVIORS = ("pv", "buy", "cart", "fav")
BEHAVIOR_P = (0.896, 0.020, 0.055, 0.029)  # the raw file's mix
STAGES = ("ingest", "split", "negatives", "windows")
INPUT = {"split": "rows.parquet", "negatives": "split.parquet", "windows": "negatives.parquet"}


def generate(path: Path, rows: int, seed: int = 0) -> None:
    """Write a Taobao-format ``UserBehavior.csv`` of ``rows`` lines, vectorised."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(seed)
    n_users = max(1, rows // 100)  # Taobao: ~100 rows per user
    n_items = max(10, rows // 24)  # Taobao: ~4.2 M items for 100 M rows
    n_cats = max(5, n_items // 440)
    user_ids = rng.choice(1_100_000 if n_users < 1_000_000 else 4 * n_users, n_users, replace=False) + 1
    item_ids = rng.choice(max(5_200_000, 2 * n_items), n_items, replace=False) + 1
    cat_of_item = (rng.choice(max(5_200_000, 2 * n_cats), n_cats, replace=False) + 1)[
        rng.integers(0, n_cats, n_items)
    ]
    user = np.sort(rng.integers(0, n_users, rows))  # grouped by user
    ts = rng.integers(WINDOW[0], WINDOW[1], rows)
    stray = rng.random(rows) < 1e-4  # the raw file holds a few timestamps outside the window
    ts[stray] -= 30 * 86400
    ts = ts[np.lexsort((ts, user))]  # ascending time inside each user (user is already sorted)
    item = (n_items * rng.random(rows) ** 3).astype(np.int64)  # Zipf-like popularity
    behavior = rng.choice(len(BEHAVIORS), rows, p=BEHAVIOR_P).astype(np.int8)
    table = pa.table(
        {
            "user_id": user_ids[user],
            "item_id": item_ids[item],
            "category_id": cat_of_item[item],
            "behavior_type": pa.DictionaryArray.from_arrays(behavior, list(BEHAVIORS)).cast(pa.string()),
            "timestamp": ts,
        }
    )
    tmp = path.with_suffix(".tmp")
    pacsv.write_csv(table, tmp, write_options=pacsv.WriteOptions(include_header=False, quoting_style="none"))
    tmp.replace(path)


def _peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB.

    Linux: ``VmHWM`` (per address space, so a fresh ``exec`` starts from zero; ``ru_maxrss`` would
    carry over the parent's peak across fork + exec). Elsewhere: ``ru_maxrss``.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 if platform.system() != "Darwin" else kb / 2**20


def _rss_mb() -> float:
    """Current resident memory of this process in MiB (Linux ``VmRSS``; 0 elsewhere)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _reset_peak() -> bool:
    """Reset ``VmHWM`` to the current RSS (Linux >= 4.0); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _nbytes(obj: object) -> int:
    if isinstance(obj, dict):
        return sum(int(v.nbytes) for v in obj.values())
    return int(obj.memory_usage(index=False, deep=True).sum())  # type: ignore[attr-defined]


def _read(path: Path, how: str) -> object:
    """Read a stage's input: ``pandas`` as ``AtomicParquetDataset.load`` does (``pd.read_parquet``,
    about 2.4x the table at its peak), or ``columns``: one column at a time into numpy arrays (about
    1.05x the table), to measure stages at sizes where the whole-file read would not fit.
    """
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    if how == "pandas":
        return pd.read_parquet(path)
    pf = pq.ParquetFile(path)
    cols = {}
    for c in pf.schema_arrow.names:
        if c.startswith("__index_level_"):
            continue
        cols[c] = pf.read(columns=[c]).column(0).to_numpy()
        pa.default_memory_pool().release_unused()
    return pd.DataFrame(cols, copy=False)


def run_stage(stage: str, work: Path, block_size: int, read: str = "pandas") -> dict:
    """Run one stage in this process and return its measurements (called in a fresh subprocess)."""
    import pyarrow as pa

    from liftrec.recsys.schema import Schema

    result: dict = {"stage": stage}
    if stage == "ingest":
        from liftrec.recsys.data.loaders import LoaderConfig, load_raw

        result["rss_before_mb"] = _peak_rss_mb()
        t0, c0 = time.perf_counter(), _cpu_seconds()
        rows, schema = load_raw("taobao", work / "raw", LoaderConfig(block_size=block_size))
        result["seconds"], result["cpu_seconds"] = time.perf_counter() - t0, _cpu_seconds() - c0
        result["rows_in"] = int(schema.extra["raw_rows"])
        result["rows_out"] = len(rows)
        result["peak_rss_mb"] = _peak_rss_mb()
        result["output_mb"] = _nbytes(rows) / 2**20
        result["cardinalities"] = dict(zip(schema.fields, schema.cardinalities, strict=True))
        rows.to_parquet(work / "rows.parquet")
        (work / "schema.json").write_text(json.dumps(schema.to_dict()))
        return result
    schema = Schema.from_dict(json.loads((work / "schema.json").read_text()))
    try:
        if stage == "split":
            from liftrec.recsys.data.split import SplitConfig, split_by_time
        elif stage == "negatives":
            from liftrec.recsys.data.negatives import NegativeConfig, sample_negatives
        else:
            from liftrec.recsys.data.sequences import WindowConfig, build_windows
    except ImportError as exc:
        return {**result, "skipped": f"not importable yet: {exc}"}
    frame = _read(work / INPUT[stage], read)
    pa.default_memory_pool().release_unused()
    result["read_peak_mb"] = _peak_rss_mb()
    result["peak_reset"] = _reset_peak()
    result["rss_before_mb"] = _rss_mb() if result["peak_reset"] else _peak_rss_mb()
    result["input_mb"] = _nbytes(frame) / 2**20
    t0, c0 = time.perf_counter(), _cpu_seconds()
    if stage == "split":
        cfg = SplitConfig(
            mode="time_points", time_points=("2017-12-02T00:00+08:00", "2017-12-03T00:00+08:00")
        )
        out, _ = split_by_time(frame, cfg, schema.time_unit)
    elif stage == "negatives":
        out = sample_negatives(frame, schema, NegativeConfig(task="ctr"), seed=0)
    else:
        out = build_windows(frame, WindowConfig())
    result["seconds"], result["cpu_seconds"] = time.perf_counter() - t0, _cpu_seconds() - c0
    result["peak_rss_mb"] = _peak_rss_mb()
    result["output_mb"] = _nbytes(out) / 2**20
    result["rows_in"] = len(frame)
    result["rows_out"] = len(out) if stage != "windows" else len(out["hist_lo"])  # type: ignore[index]
    if stage != "windows":
        # Written while the input is still alive, as Kedro saves a node's outputs before it
        # releases the inputs; the peak of the write is reported on its own.
        _reset_peak()
        name = "split.parquet" if stage == "split" else "negatives.parquet"
        out.to_parquet(work / name)  # type: ignore[union-attr]
        result["write_peak_mb"] = _peak_rss_mb()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the generated CSV")
    parser.add_argument("--out-dir", type=Path, default=Path("/tmp/liftrec_bench_ingest"))
    parser.add_argument("--block-size", type=int, default=64 << 20, help="pyarrow CSV block size in bytes")
    parser.add_argument(
        "--stages", default=",".join(STAGES), help="comma-separated subset of " + ",".join(STAGES)
    )
    parser.add_argument(
        "--src",
        type=Path,
        default=Path(__file__).resolve().parents[1] / "src",
        help="source tree of the liftrec package to measure (e.g. an older checkout, for before/after)",
    )
    parser.add_argument(
        "--read",
        choices=("pandas", "columns"),
        default="pandas",
        help="how stages read their Parquet input (pandas: as the project's catalog does)",
    )
    parser.add_argument("--tag", default="", help="suffix of the JSON file name (e.g. _before)")
    parser.add_argument("--stage", help=argparse.SUPPRESS)  # internal: run one stage in this process
    args = parser.parse_args()

    work = args.out_dir / f"taobao_{args.rows}"
    if args.stage:
        print(json.dumps(run_stage(args.stage, work, args.block_size, args.read)))
        return

    raw = work / "raw" / "UserBehavior.csv"
    raw.parent.mkdir(parents=True, exist_ok=True)
    report: dict = {
        "rows": args.rows,
        "csv": str(raw),
        "block_size": args.block_size,
        "read": args.read,
        "cpus": os.cpu_count(),
        "load_average_at_start": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "stages": [],
    }
    stages = args.stages.split(",")
    unknown = sorted(set(stages) - set(STAGES))
    if unknown:
        parser.error(f"unknown stages {unknown}; choose from {','.join(STAGES)}")
    if "ingest" in stages and not raw.exists():  # generated in a child, so the parent stays small
        t0 = time.perf_counter()
        code = f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import bench_ingest as b; "
        code += f"b.generate(b.Path({str(raw)!r}), {args.rows})"
        subprocess.run([sys.executable, "-c", code], check=True)
        report["generate_seconds"] = round(time.perf_counter() - t0, 2)
    report["csv_bytes"] = raw.stat().st_size if raw.exists() else None
    env = {**os.environ, "PYTHONPATH": str(args.src.resolve())}
    report["src"] = str(args.src.resolve())
    for stage in stages:
        cmd = [
            sys.executable,
            __file__,
            "--rows",
            str(args.rows),
            "--out-dir",
            str(args.out_dir),
            "--block-size",
            str(args.block_size),
            "--read",
            args.read,
            "--stage",
            stage,
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            report["stages"].append({"stage": stage, "error": proc.stderr.strip().splitlines()[-1:]})
            break
        report["stages"].append(json.loads(proc.stdout.strip().splitlines()[-1]))

    csv = f"csv {report['csv_bytes'] / 2**20:,.0f} MiB" if report["csv_bytes"] else "csv not generated"
    print(f"rows {args.rows:,}  {csv}  ({work})")
    print(
        f"{'stage':<10} {'rows in':>12} {'rows out':>12} {'seconds':>9} {'CPU s':>7} {'rows/s':>12}"
        f" {'read peak':>10} {'in MiB':>8} {'out MiB':>8} {'input RSS':>10} {'peak RSS':>9}"
        f" {'write peak':>10}"
    )
    for s in report["stages"]:
        if "seconds" in s:
            rate = s["rows_in"] / s["seconds"]
            s["rows_per_s"] = round(rate)
            print(
                f"{s['stage']:<10} {s['rows_in']:>12,} {s['rows_out']:>12,} {s['seconds']:>9.2f}"
                f" {s['cpu_seconds']:>7.2f} {rate:>12,.0f} {s.get('read_peak_mb', 0):>10,.0f}"
                f" {s.get('input_mb', 0):>8,.0f} {s['output_mb']:>8,.0f} {s['rss_before_mb']:>10,.0f}"
                f" {s['peak_rss_mb']:>9,.0f} {s.get('write_peak_mb', 0):>10,.0f}"
            )
        else:
            print(f"{s['stage']:<10} {s.get('skipped') or s.get('error')}")
    out = args.out_dir / f"bench_ingest_{args.rows}{args.tag}.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"JSON: {out}")


if __name__ == "__main__":
    main()
