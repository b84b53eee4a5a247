"""Objective functions that agent processes import by name (``tests.tuning.objectives:...``)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from stackml.tuning import Trial


def grid_point(trial: Trial) -> dict[str, float]:
    """A short sleep so two agents overlap, then a value that depends on the point."""
    time.sleep(0.05)
    return {"loss": float(trial.params["a"]) * 10 + float(trial.params["b"])}


def hang_once(trial: Trial) -> dict[str, float]:
    """The first trial that finds no marker file writes it and hangs (its agent gets killed)."""
    marker = Path(os.environ["HANG_MARKER"])
    if not marker.exists():
        marker.write_text(trial.run.id)
        time.sleep(600)
    return {"loss": (float(trial.params["x"]) - 2.0) ** 2}


def quick(trial: Trial) -> dict[str, float]:
    """A trivial objective."""
    return {"loss": (float(trial.params["x"]) - 2.0) ** 2}
