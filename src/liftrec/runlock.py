"""One ``kedro run`` at a time per dataset's outputs, and a safe first use of the MLflow store.

Two runs on the same dataset write the same files (``data/<layer>/<dataset>/``) and the same cache
manifest: the second fails at once, naming the process that holds the lock, before any node runs or
any MLflow run opens. Read-only commands (kedro viz, the MLflow UI, the notebook) take no lock. The
locks are ``flock`` locks, so a killed run never leaves a stale one behind.

Two runs started together on a fresh project also both create MLflow's SQLite tables ("duplicate
column name"); :func:`exclusive` serialises that first use.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from liftrec.recsys.errors import LiftrecError

LOCKS = Path(".locks")  # in the project root, beside data/: a lock is not an output


class RunLockedError(LiftrecError):
    """Another run holds the lock of the outputs this run would write."""


def _open(project_path: Path, name: str):
    path = Path(project_path) / LOCKS / f"{name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path, open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the whole run


@contextmanager
def run_lock(project_path: Path, dataset: str) -> Iterator[None]:
    """Hold the run lock of ``dataset`` for the duration of a run.

    Raises:
        RunLockedError: another live process holds it (its pid and start time are named).
    """
    path, fh = _open(project_path, f"run-{dataset}")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = ""
        for _ in range(40):  # the holder writes its pid just after taking the lock: give it a moment
            fh.seek(0)
            holder = fh.read().strip()
            if holder:
                break
            time.sleep(0.05)
        fh.close()
        holder = holder or "a process"
        raise RunLockedError(
            f"another kedro run ({holder}) is writing the outputs of dataset '{dataset}' "
            f"(data/*/{dataset}/, lock {path}); wait for it to end, or run another dataset"
        ) from None
    try:
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}, started {datetime.now(UTC).isoformat(timespec='seconds')}")
        fh.flush()
        yield
    finally:
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()


def remove_interrupted_saves(project_path: Path, dataset: str) -> list[Path]:
    """Delete the temporary files and folders a killed save left in ``data/*/<dataset>/``.

    Atomic saves write ``.<name>.<random>.tmp`` beside their target and rename it; a kill between the
    two leaves it behind. Call only while holding the dataset's run lock (no save of it is running).

    Returns:
        The paths removed.
    """
    import shutil

    removed = []
    for folder in (Path(project_path) / "data").glob(f"*/{dataset}"):
        for tmp in folder.rglob(".*.tmp"):
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


@contextmanager
def exclusive(project_path: Path, name: str) -> Iterator[None]:
    """Wait for, then hold, a project-wide lock ``name`` (e.g. the MLflow store's first use)."""
    _, fh = _open(project_path, name)
    try:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()
