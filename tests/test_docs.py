"""The docs site builds with warnings as errors (broken links, missing images, pages left out of the nav)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytest.importorskip("mkdocs")


def test_mkdocs_build_is_strict_clean(tmp_path: Path):
    site = tmp_path / "site"
    config = str(REPO / "mkdocs.yml")
    cmd = [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", config, "-d", str(site)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    for page in ("index.html", "tracking/index.html", "lineage/index.html"):
        assert (site / page).is_file(), page
    assert (site / "images" / "kedro-viz.png").is_file()
