"""Tracking: runs, params, metrics, artifacts, lineage and environment capture.

::

    import stackml

    with stackml.start_run(project="digits", params={"lr": 3e-4}) as run:
        for step in range(100):
            run.log_metrics({"loss": 1 / (step + 1)}, step=step)
    stackml.metric_history(run.id, "loss")  # [(step, timestamp_ms, value), ...]

Metric points are written by a background thread in large batches; :func:`flush` waits until
they are durable.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stackml.errors import Conflict
from stackml.tracking import api
from stackml.tracking.api import (
    flush,
    get_run,
    get_store,
    get_tracking_uri,
    metric_history,
    search_runs,
    search_runs_page,
    set_tracking_uri,
)
from stackml.tracking.run import ActiveRun, active_run, forget_active_runs, start_run

__all__ = [
    "ActiveRun",
    "active_run",
    "download_artifact",
    "end_run",
    "flush",
    "get_run",
    "get_store",
    "get_tracking_uri",
    "log_metrics",
    "log_params",
    "metric_history",
    "reset",
    "search_runs",
    "search_runs_page",
    "set_tags",
    "set_tracking_uri",
    "start_run",
]


def end_run(status: str = "completed") -> None:
    """Finish the active run, if there is one (see :meth:`ActiveRun.finish`)."""
    run = active_run()
    if run is not None:
        run.finish(status)


def _require_active() -> ActiveRun:
    run = active_run()
    if run is None:
        raise Conflict("no run is active: call stackml.start_run() first")
    return run


def log_metrics(metrics: Mapping[str, Any], step: int | None = None) -> None:
    """Log metrics to the active run (see :meth:`ActiveRun.log_metrics`)."""
    _require_active().log_metrics(metrics, step=step)


def log_params(params: Mapping[str, Any]) -> None:
    """Log params to the active run (see :meth:`ActiveRun.log_params`)."""
    _require_active().log_params(params)


def set_tags(tags: Mapping[str, Any]) -> None:
    """Set tags on the active run (see :meth:`ActiveRun.set_tags`)."""
    _require_active().set_tags(tags)


def download_artifact(
    run_id: str, path: str, dest: str | Path, *, tracking_uri: str | None = None
) -> Path:
    """Copy a run's artifact file, or every file under an artifact directory, to ``dest``."""
    from stackml.tracking.artifacts import download_artifact as _download

    return _download(get_store(tracking_uri), run_id, path, dest)


def reset() -> None:
    """Forget this context's active runs, then flush and close every store this process opened.

    Meant for test suites and notebooks that want a clean slate; runs are left as they are.
    """
    forget_active_runs()
    api.reset()
