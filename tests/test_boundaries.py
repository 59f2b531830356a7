"""The library imports no kedro and no mlflow (CONVENTIONS.md principle 1), checked in a clean interpreter."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def test_recsys_imports_without_kedro_or_mlflow():
    code = textwrap.dedent(
        """
        import importlib, pkgutil, sys

        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("kedro", "mlflow", "kedro_datasets", "kedro_viz"):
                    raise ImportError(f"the library imported {name}")

        sys.meta_path.insert(0, Block())
        import liftrec.recsys as lib
        names = [m.name for m in pkgutil.walk_packages(lib.__path__, "liftrec.recsys.")]
        for name in names:
            importlib.import_module(name)
        print(len(names))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip()) > 20


def test_pipelines_import_the_library_not_the_reverse():
    for path in (SRC / "liftrec" / "recsys").rglob("*.py"):
        text = path.read_text()
        assert "liftrec.pipelines" not in text and "liftrec.hooks" not in text, path
