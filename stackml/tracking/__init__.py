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

from pathlib import Path

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
    "metric_history",
    "reset",
    "search_runs",
    "search_runs_page",
    "set_tracking_uri",
    "start_run",
]


def end_run(status: str = "completed") -> None:
    """Finish the active run, if there is one (see :meth:`ActiveRun.finish`)."""
    run = active_run()
    if run is not None:
        run.finish(status)


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
