"""Change-aware node caching: fingerprints, the manifest and the run plan (see docs/caching.md).

A node's fingerprint hashes what decides its outputs:

* ``params``: the value of every ``params:<key>`` input it takes (not the others);
* ``data``: for each catalog input, the *version* recorded when its producer last saved it (a hash of
  the producer's fingerprint and the saved files' signature), or the file's own signature for an input
  no node produced; raw folders read by ingestion (``EXTERNAL_INPUTS``) by size + mtime of each file;
* ``code``: the source of the node function's module and of every ``liftrec`` module it imports,
  transitively, plus the installed versions of the third-party packages those modules import.

After a node has saved all its outputs, its entry (fingerprint, parts, output signatures, provenance)
is written atomically to ``data/.cache/<dataset>/<node>.json``. A later run skips a node whose entry
exists, whose fingerprint is unchanged and whose outputs still match their recorded signatures.
This module knows nothing of runners or sessions (``liftrec.session`` wires it into Kedro).
"""

from __future__ import annotations

import ast
import hashlib
import json
import logging
import re
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import liftrec
from liftrec.datasets import atomic_path
from liftrec.recsys.config import flatten

logger = logging.getLogger(__name__)

PACKAGE_ROOT = Path(liftrec.__file__).resolve().parent
SMALL_FILE = 1 << 20  # files up to 1 MiB are content-hashed; larger ones are compared by size + mtime
CACHE_DIR = Path("data") / ".cache"


# --------------------------------------------------------------------------------------- code --


def module_file(name: str) -> Path | None:
    """The source file of a ``liftrec`` module (``__init__.py`` for a package), found without importing."""
    parts = name.split(".")
    if parts[0] != "liftrec":
        return None
    base = PACKAGE_ROOT.joinpath(*parts[1:])
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return base.with_suffix(".py") if base.with_suffix(".py").is_file() else None


@cache
def _scan(path: Path, mtime_ns: int, size: int) -> tuple[str, tuple[tuple[str, bool], ...]]:
    """(sha256 of the source, imported module names with a flag 'inside a function')."""
    source = path.read_bytes()
    is_pkg = path.name == "__init__.py"
    rel = path.relative_to(PACKAGE_ROOT).with_suffix("").parts
    package = ".".join(("liftrec", *rel) if is_pkg else ("liftrec", *rel[:-1]))
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, local: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = local or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                found.extend((a.name, local) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:  # relative import: resolve against this module's package
                    base = package.split(".")[: len(package.split(".")) - child.level + 1]
                    mod = ".".join(base + ([child.module] if child.module else []))
                else:
                    mod = child.module or ""
                found.append((mod, local))
                found.extend((f"{mod}.{a.name}", local) for a in child.names)  # may name a submodule
            visit(child, inner)

    visit(ast.parse(source), False)
    return hashlib.sha256(source).hexdigest(), tuple(found)


def _scan_module(name: str) -> tuple[str, tuple[tuple[str, bool], ...]] | None:
    path = module_file(name)
    if path is None:
        return None
    st = path.stat()
    return _scan(path, st.st_mtime_ns, st.st_size)


def module_digest(name: str) -> str:
    """sha256 of a ``liftrec`` module's source (tests monkeypatch this to simulate an edit)."""
    scanned = _scan_module(name)
    return scanned[0] if scanned else "?"


def module_closure(start: str) -> tuple[list[str], list[str]]:
    """The ``liftrec`` modules ``start`` depends on, and the top-level third-party packages they import.

    Every import is followed, with one exception: function-local imports of Kedro-layer modules other
    than ``start`` (``params.py`` defers heavy imports inside its validation functions, which run before
    any node; following them would tie every node to every model file). Parent packages count too,
    since importing a module runs their ``__init__``.
    """
    seen: set[str] = set()
    third: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        scanned = _scan_module(name)
        if scanned is None:
            continue
        seen.add(name)
        parts = name.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))
        follow_local = name == start or name.startswith("liftrec.recsys")
        for mod, local in scanned[1]:
            if local and not follow_local:
                continue
            top = mod.split(".")[0]
            if top == "liftrec":
                todo.append(mod)
            elif top and top not in sys.stdlib_module_names and top != "__future__":
                third.add(top)
    return sorted(seen), sorted(third)


@cache
def package_version(top: str) -> str | None:
    """Installed version of an imported top-level package (None when unknown)."""
    try:
        return metadata.version(top)
    except metadata.PackageNotFoundError:
        return getattr(sys.modules.get(top), "__version__", None)


def code_parts(func: Callable, closures: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the fingerprint records of a node's code: module digests and package versions.

    ``closures`` memoises ``module_closure`` per module (nodes of one module share it).
    """
    while hasattr(func, "func") and not hasattr(func, "__code__"):  # functools.partial
        func = func.func
    module = getattr(func, "__module__", "") or ""
    if not module.startswith("liftrec"):  # not ours: only its name is known
        name = f"{module}:{getattr(func, '__qualname__', repr(func))}"
        return {"func": name, "modules": {}, "packages": {}}
    closures = {} if closures is None else closures
    if module not in closures:
        closures[module] = module_closure(module)
    modules, third = closures[module]
    return {
        "func": f"{module}:{func.__qualname__}",
        "modules": {m: module_digest(m) for m in modules},
        "packages": {p: package_version(p) for p in third},
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
    }


# ---------------------------------------------------------------------------------- signatures --


def is_param(name: str) -> bool:
    """Whether a node input is a parameter (``params:<key>`` or ``parameters``)."""
    return name.startswith("params:") or name == "parameters"


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=repr).encode()).hexdigest()


def file_signature(path: Path) -> dict[str, Any] | None:
    """Size + sha256 for small files, size + mtime for large ones; per file for a folder; None if absent.

    Hidden entries (a dataset's temporary siblings) are ignored.
    """
    if path.is_file():
        st = path.stat()
        if st.st_size <= SMALL_FILE:
            return {"size": st.st_size, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
        return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        return {"files": {str(p.relative_to(path)): file_signature(p) for p in files}}
    return None


def folder_stat(path: Path) -> dict[str, Any] | None:
    """Size + mtime of every file under a folder (raw data: never read in full), or None if absent."""
    if path.is_file():
        st = path.stat()
        return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
    if not path.is_dir():
        return None
    return {str(p.relative_to(path)): folder_stat(p) for p in sorted(path.rglob("*")) if p.is_file()}


def _without_cache_flag(name: str, value: Any) -> Any:
    """The whole-``parameters`` input minus ``cache``, which decides whether to reuse, not what to compute."""
    if name == "parameters" and isinstance(value, dict):
        return {k: v for k, v in value.items() if k != "cache"}
    return value


def _raw_files(params: Mapping[str, Any]) -> list[Path]:
    dataset = params.get("params:dataset")
    if dataset == "synthetic":  # generated from its parameters, which the fingerprint already holds
        return []
    return [Path(params.get("params:raw_dir") or f"data/01_raw/{dataset}")]


# Files a node reads outside the catalog, as a function of its parameter inputs (node name -> paths).
EXTERNAL_INPUTS: dict[str, Callable[[Mapping[str, Any]], list[Path]]] = {"ingest_interactions": _raw_files}


def dataset_path(dataset: Any) -> Path | None:
    """The local file or folder a catalog dataset persists to; None for memory or versioned datasets."""
    if dataset is None or getattr(dataset, "_EPHEMERAL", False) or getattr(dataset, "_version", None):
        return None
    if getattr(dataset, "_protocol", "file") not in ("file", "local", None):
        return None
    path = getattr(dataset, "_path", None) or getattr(dataset, "_filepath", None)
    if path is None:
        try:
            path = dataset._describe().get("filepath")
        except Exception:  # a dataset without _describe: treat as not persisted
            return None
    return Path(str(path)) if path else None


# ------------------------------------------------------------------------------------ manifest --


class Manifest:
    """One JSON entry per node in a folder, each written atomically (safe for threads and processes)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._entries: dict[str, dict[str, Any]] | None = None

    def _file(self, node: str) -> Path:
        return self.root / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', node)}.json"

    def entries(self) -> dict[str, dict[str, Any]]:
        if self._entries is None:
            out: dict[str, dict[str, Any]] = {}
            for path in sorted(self.root.glob("*.json")) if self.root.is_dir() else []:
                try:
                    entry = json.loads(path.read_text())
                    out[entry["node"]] = entry
                except (OSError, ValueError, KeyError):
                    logger.warning("ignoring unreadable cache entry %s", path)
            self._entries = out
        return self._entries

    def get(self, node: str) -> dict[str, Any] | None:
        return self.entries().get(node)

    def put(self, entry: dict[str, Any]) -> None:
        with self._lock:
            with atomic_path(self._file(entry["node"])) as tmp:
                tmp.write_text(json.dumps(entry, indent=1, sort_keys=True, default=repr) + "\n")
            self.entries()[entry["node"]] = entry

    def drop(self, node: str) -> None:
        with self._lock:
            self._file(node).unlink(missing_ok=True)
            self.entries().pop(node, None)

    def producer(self, dataset: str) -> dict[str, Any] | None:
        """The recorded output of ``dataset`` (latest entry that lists it)."""
        found = [e for e in self.entries().values() if dataset in e.get("outputs", {})]
        if not found:
            return None
        return max(found, key=lambda e: e.get("recorded", ""))["outputs"][dataset]


# ---------------------------------------------------------------------------------------- plan --


@dataclass(frozen=True)
class Decision:
    """Whether a node runs, why, and (when reused) the provenance of the outputs it keeps."""

    node: Any  # kedro.pipeline.node.Node
    run: bool
    reason: str
    provenance: dict[str, Any] = field(default_factory=dict)


@dataclass
class CachePlan:
    """The decision for every node of a run, in topological order."""

    decisions: list[Decision]

    @property
    def to_run(self) -> list[str]:
        return [d.node.name for d in self.decisions if d.run]

    @property
    def reused(self) -> list[Decision]:
        return [d for d in self.decisions if not d.run]


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def changed_values(old: Mapping[str, Any], new: Mapping[str, Any], limit: int = 5) -> str:
    """The parameter leaves that differ, as ``key old -> new`` (``params:`` prefixes dropped).

    Args:
        old: the recorded parameter inputs of a node ({"params:train": {...}, ...}).
        new: the same inputs now.
        limit: at most this many keys are named; the rest are counted.
    """
    a = {k.removeprefix("params:"): v for k, v in flatten(_jsonable(dict(old))).items()}
    b = {k.removeprefix("params:"): v for k, v in flatten(_jsonable(dict(new))).items()}
    missing = object()
    diffs = [f"{k} {a.get(k, '(unset)')!r} -> {b.get(k, '(unset)')!r}"
             for k in sorted(set(a) | set(b)) if a.get(k, missing) != b.get(k, missing)]  # fmt: skip
    if not diffs:
        return "(values not recorded)"
    more = f" and {len(diffs) - limit} more" if len(diffs) > limit else ""
    return ", ".join(diffs[:limit]) + more


def _explain(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    """A short reason naming what differs between two parts records (None when equal)."""
    if old == new:
        return None
    for key in ("params", "data", "external"):
        changed = sorted(k for k in set(old.get(key, {})) | set(new.get(key, {}))
                         if old.get(key, {}).get(k) != new.get(key, {}).get(k))  # fmt: skip
        if changed:
            return {"params": "parameters changed: ", "data": "inputs changed: ",
                    "external": "raw files changed: "}[key] + ", ".join(changed)  # fmt: skip
    oc, nc = old.get("code", {}), new.get("code", {})
    mods = sorted(m for m in set(oc.get("modules", {})) | set(nc.get("modules", {}))
                  if oc.get("modules", {}).get(m) != nc.get("modules", {}).get(m))  # fmt: skip
    if mods:
        return "code changed: " + ", ".join(mods)
    if oc.get("packages") != nc.get("packages") or oc.get("python") != nc.get("python"):
        return "package versions changed"
    return "node definition changed"


class NodeCache:
    """Fingerprints nodes against a catalog, plans a run and records finished nodes.

    Args:
        catalog: the run's catalog (parameters are read from its ``params:*`` datasets).
        project_path: the project root; the manifest lives in ``data/.cache/<dataset>`` under it and
            recorded paths are relative to it, so a copied project keeps its cache.
    """

    def __init__(self, catalog: Any, project_path: Path) -> None:
        self.catalog = catalog
        self.project_path = Path(project_path).resolve()
        self.enabled = bool(self._param("params:cache", True))
        dataset = str(self._param("params:dataset", "default"))
        self.manifest = Manifest(self.project_path / CACHE_DIR / dataset)
        self._closures: dict[str, Any] = {}  # module -> its closure, computed once per run

    def _param(self, name: str, default: Any) -> Any:
        ds = self.catalog.get(name) if name in self.catalog else None
        return ds.load() if ds is not None else default

    def _path(self, dataset: str) -> Path | None:
        path = dataset_path(self.catalog.get(dataset, fallback_to_runtime_pattern=True))
        if path is None:
            return None
        return path if path.is_absolute() else self.project_path / path

    def _rel(self, path: Path) -> str:
        try:
            return str(path.resolve().relative_to(self.project_path))
        except ValueError:
            return str(path.resolve())

    def input_version(self, dataset: str) -> str | None:
        """The recorded version of a persisted input, a hash of its file signature, or None."""
        path = self._path(dataset)
        if path is None:
            return None
        current = file_signature(path)
        rec = self.manifest.producer(dataset)
        if rec is not None and rec.get("path") == self._rel(path) and rec.get("signature") == current:
            return rec["version"]
        return None if current is None else "file:" + _digest(current)

    def parts(self, node: Any, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Everything the node's fingerprint covers; ``params`` maps its param inputs to values."""
        if params is None:
            params = {i: self._param(i, None) for i in node.inputs if is_param(i)}
        external = EXTERNAL_INPUTS.get(node.name)
        return {
            "inputs": list(node.inputs),
            "outputs": list(node.outputs),
            "params": {k: _digest(_without_cache_flag(k, v)) for k, v in params.items()},
            "data": {i: self.input_version(i) for i in node.inputs if i not in params},
            "external": {str(p): _digest(folder_stat(self.project_path / p)) for p in external(params)}
            if external
            else {},
            "code": code_parts(node.func, self._closures),
        }

    def _check_outputs(self, node: Any, entry: dict[str, Any]) -> str | None:
        for out in node.outputs:
            path = self._path(out)
            rec = entry.get("outputs", {}).get(out)
            if path is None:
                return f"output {out} is not persisted"
            if rec is None or rec.get("path") != self._rel(path):
                return f"output {out} moved"
            current = file_signature(path)
            if current is None:
                return f"output {out} is missing"
            if current != rec.get("signature"):
                return f"output {out} changed on disk"
        return None

    def decide(self, node: Any, upstream_runs: set[str]) -> Decision:
        """Run or reuse one node, given the datasets that nodes running earlier in this run produce."""
        if not self.enabled:
            return Decision(node, True, "cache=false")
        entry = self.manifest.get(node.name)
        if entry is None:
            return Decision(node, True, "no cache entry")
        rerun = [i for i in node.inputs if i in upstream_runs]
        if rerun:
            return Decision(node, True, "upstream reruns: " + ", ".join(rerun))
        parts = self.parts(node)
        missing = [k for k, v in parts["data"].items() if v is None]
        if missing:
            return Decision(node, True, "inputs not persisted: " + ", ".join(missing))
        reason = _explain(entry.get("parts", {}), parts) or self._check_outputs(node, entry)
        if reason and reason.startswith("parameters changed") and "param_values" in entry:
            now = {i: self._param(i, None) for i in node.inputs if is_param(i)}
            reason = "parameters changed: " + changed_values(entry["param_values"], now)
        if reason:
            return Decision(node, True, reason)
        prov = dict(entry.get("provenance", {}))
        return Decision(node, False, f"unchanged since run {prov.get('kedro_run_id', '?')}", prov)

    def plan(self, pipeline: Any) -> CachePlan:
        """The decision for every node of ``pipeline`` (topological order)."""
        produced: set[str] = set()
        decisions = []
        for node in pipeline.nodes:
            d = self.decide(node, produced)
            if d.run:
                produced.update(node.outputs)
            decisions.append(d)
        return CachePlan(decisions)

    def record(
        self,
        node: Any,
        parts: dict[str, Any],
        provenance: dict[str, Any],
        param_values: Mapping[str, Any] | None = None,
    ) -> None:
        """Write the node's entry; call only once every output is saved. ``param_values`` (the node's
        parameter inputs) let a later run name each changed key with its old and new value."""
        outputs = {}
        for out in node.outputs:
            path = self._path(out)
            if path is None:  # a memory output: nothing on disk to reuse, the node always reruns
                return
            sig = file_signature(path)
            version = _digest([_digest(parts), sig])
            outputs[out] = {"path": self._rel(path), "signature": sig, "version": version}
        self.manifest.put({
            "node": node.name,
            "fingerprint": _digest(parts),
            "parts": parts,
            "outputs": outputs,
            "provenance": provenance,
            "param_values": _jsonable(dict(param_values or {})),
            "recorded": datetime.now(UTC).isoformat(),
        })  # fmt: skip
