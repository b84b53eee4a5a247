"""Shared helpers of the sweep tests: a store per test and small objectives."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import stackml
from stackml.tuning import Trial


@pytest.fixture
def uri(tmp_path: Path) -> Iterator[str]:
    """A fresh embedded store (a folder) used as the tracking URI."""
    location = str(tmp_path / "store")
    yield location
    stackml.flush()


def quadratic(trial: Trial) -> dict[str, float]:
    """Minimum 0 at x = 2; reports a decreasing curve so pruners have something to judge."""
    x = float(trial.params["x"])
    final = (x - 2.0) ** 2
    for step in range(5):
        trial.report({"loss": final + 1.0 / (step + 1)}, step=step)
    return {"loss": final}


def space(**extra: Any) -> dict[str, Any]:
    """A small float space plus whatever the test adds."""
    return {"x": {"type": "float", "low": -5.0, "high": 5.0}, **extra}


def definition(name: str, **extra: Any) -> dict[str, Any]:
    """A minimal sweep definition over :func:`space`."""
    return {
        "name": name,
        "project": "tune",
        "space": space(),
        "objective": {"metric": "loss", "direction": "minimize"},
        "budget": {"trials": 8},
        "seed": 0,
        **extra,
    }


def finite(value: float) -> bool:
    return math.isfinite(value)
