"""One router per resource of the REST API; :data:`ROUTERS` lists them in mounting order."""

from __future__ import annotations

from stackml.server.routers import (
    artifacts,
    blobs,
    experiments,
    health,
    lineage,
    metrics,
    projects,
    runs,
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
    users.router,
)

__all__ = ["ROUTERS"]
