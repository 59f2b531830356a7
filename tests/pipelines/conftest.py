"""A throwaway copy of the project (conf + pyproject) per test, run through a real KedroSession."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder with this repo's conf/ and pyproject, as the working directory.

    Outputs (data/, mlflow.db) land in the temporary folder; MLflow is pointed there too.
    """
    shutil.copytree(REPO / "conf", tmp_path / "conf")
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "src").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("KEDRO_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("CI", "true")
    return tmp_path


def run_session(
    project: Path, pipeline: str = "__default__", env: str = "test", params: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Run one registered pipeline in a fresh KedroSession (as `kedro run --env=... --params=...`)."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(project)
    with KedroSession.create(project_path=project, env=env, runtime_params=params or {}) as session:
        return session.run(pipeline_names=[pipeline])


def outputs(project: Path) -> list[str]:
    """Every file written under data/ (relative paths)."""
    data = project / "data"
    return sorted(str(p.relative_to(data)) for p in data.rglob("*") if p.is_file()) if data.exists() else []


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent (a user's fresh clone)")
    return SHARED_DATA
