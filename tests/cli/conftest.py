"""Fixtures for the command line: an in-process runner and runs recorded through the SDK."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

import stackml
import stackml.tracking
from stackml.cli.main import app
from tests.cli.support import Invoke, RecordedRuns


@pytest.fixture(autouse=True)
def _clean_tracking() -> Iterator[None]:
    """Runs logged by one test never leak into the next one's store."""
    stackml.tracking.reset()
    yield
    stackml.tracking.reset()


@pytest.fixture
def cli() -> Invoke:
    """Invoke ``stackml ARGS...`` in-process; returns Click's result (stdout/stderr apart)."""
    runner = CliRunner()

    def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
        return runner.invoke(app, list(args), env={"COLUMNS": "200", **(env or {})})

    return invoke


@pytest.fixture
def recorded_runs(tmp_path: Path) -> RecordedRuns:
    """Two runs of project ``demo`` that differ in ``lr`` and in their metrics."""
    artifact = tmp_path / "notes.txt"
    artifact.write_text("hello")
    with stackml.start_run(
        project="demo",
        name="slow-lr",
        params={"lr": 0.01, "opt": "adam"},
        tags={"team": "vision"},
        capture_environment=False,
    ) as slow:
        slow.log_metrics({"acc": 0.5, "loss": 0.9}, step=0)
        slow.log_metrics({"acc": 0.8, "loss": 0.4}, step=1)
        slow.log_artifact(artifact)
        slow.log_input("dataset_version", "digits@v1")
    with stackml.start_run(
        project="demo",
        name="fast-lr",
        params={"lr": 0.1, "opt": "adam"},
        capture_environment=False,
    ) as fast:
        fast.log_metrics({"acc": 0.95, "loss": 0.2}, step=0)
    stackml.flush()
    return RecordedRuns(slow=slow.id, fast=fast.id)
