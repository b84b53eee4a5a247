"""``stackml sweep create|agent|status|best|importance|stop|run`` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import stackml
from stackml.cli.main import app

ROOT = Path(__file__).resolve().parents[2]

SPEC = """\
name: cli-sweep
project: tune
target: tests.tuning.objectives:quick
method: tpe
space:
  x: {type: float, low: -5, high: 5}
  kind: {type: categorical, choices: [a, b]}
objective: {metric: loss, direction: minimize}
budget: {trials: 6}
seed: 1
"""


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _invoke(runner: CliRunner, uri: str, *args: str) -> str:
    result = runner.invoke(app, ["--tracking-uri", uri, *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_sweep_commands(runner: CliRunner, uri: str, tmp_path: Path) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text(SPEC)
    out = _invoke(runner, uri, "sweep", "create", str(path))
    assert "tune/cli-sweep" in out and "0/6 trials started" in out
    out = _invoke(runner, uri, "sweep", "agent", "tune/cli-sweep", "--count", "4")
    assert "ran 4 trials (4 complete)" in out
    out = _invoke(runner, uri, "sweep", "agent", "tune/cli-sweep")
    assert "ran 2 trials" in out and "the sweep is complete" in out
    listing = _invoke(runner, uri, "sweep", "status")
    assert "tune/cli-sweep" in listing and "completed" in listing
    status = json.loads(_invoke(runner, uri, "sweep", "status", "tune/cli-sweep", "--json"))
    assert status["counts"] == {"complete": 6} and len(status["trials"]) == 6
    best = json.loads(_invoke(runner, uri, "sweep", "best", "tune/cli-sweep", "--json"))
    assert len(best) == 1
    assert best[0]["values"][0] == min(t["values"][0] for t in status["trials"])
    assert "x =" in _invoke(runner, uri, "sweep", "best", "tune/cli-sweep")
    importance = _invoke(runner, uri, "sweep", "importance", "tune/cli-sweep")
    assert "x" in importance and "kind" in importance
    table = _invoke(runner, uri, "sweep", "status", "tune/cli-sweep")
    assert "complete" in table
    stackml.flush()


def test_stop_and_clear_errors(runner: CliRunner, uri: str, tmp_path: Path) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text(SPEC)
    _invoke(runner, uri, "sweep", "create", str(path), "--name", "to-stop")
    out = _invoke(runner, uri, "sweep", "stop", "tune/to-stop")
    assert "stopped" in out
    assert "ran 0 trials" in _invoke(runner, uri, "sweep", "agent", "tune/to-stop")
    bad = tmp_path / "bad.yaml"
    bad.write_text(SPEC.replace("low: -5, high: 5", "low: 5, high: -5"))
    result = runner.invoke(app, ["--tracking-uri", uri, "sweep", "create", str(bad)])
    assert result.exit_code == 1 and "greater than high" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(app, ["--tracking-uri", uri, "sweep", "best", "tune/missing"])
    assert result.exit_code == 1 and "no sweep" in result.output
    result = runner.invoke(app, ["sweep", "--help"])
    assert result.exit_code == 0
    for command in ("create", "run", "agent", "status", "best", "importance", "stop"):
        assert command in result.output
