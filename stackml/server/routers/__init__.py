"""One router per resource of the REST API; :data:`ROUTERS` lists them in mounting order."""

from __future__ import annotations

from stackml.server.routers import (
    artifacts,
    blobs,
    datasets,
    experiments,
    health,
    jobs,
    lineage,
    metrics,
    projects,
    runs,
    training,
    ui_charts,
    ui_datasets,
    ui_jobs,
    ui_pages,
    ui_session,
    users,
)

ROUTERS = (
    health.router,
    projects.router,
    experiments.router,
    runs.router,
    metrics.router,
    artifacts.router,
    blobs.router,
    lineage.router,
    datasets.router,
    jobs.router,
    training.router,
    users.router,
    # The web UI last: its pages live under / beside the API.
    ui_charts.router,
    ui_session.router,
    ui_pages.router,
    ui_jobs.router,
    ui_datasets.router,
)

__all__ = ["ROUTERS"]
