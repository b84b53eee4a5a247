"""The public surface is deliberate: adding or removing a name must be a conscious change."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import stackml

REPO = Path(__file__).resolve().parents[1]


def test_top_level_exports_are_locked() -> None:
    assert sorted(stackml.__all__) == sorted(
        [
            "ActiveRun",
            "AlreadyExists",
            "Conflict",
            "Forbidden",
            "IntegrityError",
            "InvalidInput",
            "NotFound",
            "StackmlError",
            "Step",
            "Unauthorized",
            "__version__",
            "active_run",
            "flush",
            "get_run",
            "metric_history",
            "models",
            "pipeline",
            "search_runs",
            "start_run",
            "step",
        ]
    )
    for name in stackml.__all__:
        assert getattr(stackml, name) is not None


def test_unknown_attribute_raises_attribute_error() -> None:
    try:
        stackml.no_such_thing  # noqa: B018
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:  # pragma: no cover - the assertion below documents the failure
        raise AssertionError("expected AttributeError")


def test_errors_inherit_the_fitting_builtins() -> None:
    assert issubclass(stackml.NotFound, LookupError)
    assert issubclass(stackml.InvalidInput, ValueError)
    assert stackml.NotFound.http_status == 404
    assert stackml.Conflict.http_status == 409
    assert str(stackml.NotFound("run 'x' not found")) == "run 'x' not found"


def test_imports_point_down_the_layers() -> None:
    checker = REPO.parent / "shared" / "tools" / "check_layers.py"
    if not checker.exists():
        import pytest

        pytest.skip("the layering checker is not beside this checkout")
    result = subprocess.run(
        [sys.executable, str(checker), str(REPO / "stackml")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
