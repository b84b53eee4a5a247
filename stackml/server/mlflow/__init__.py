"""The MLflow REST API of ``stackml server``, mapped onto stackml's own entities.

Modules: :mod:`.experiments`, :mod:`.runs`, :mod:`.search` (runs and metric history),
:mod:`.artifacts` (``artifacts/list`` and the ``mlflow-artifacts`` proxy), :mod:`.registry`
(registered models and versions), :mod:`.filters` (MLflow's search language onto stackml's)
and :mod:`.errors` (MLflow's error format).
"""

from __future__ import annotations

from fastapi import APIRouter

from stackml.server.mlflow import artifacts, experiments, fallback, registry, runs, search

#: Tracking routers, served under ``/api/2.0/mlflow`` and ``/ajax-api/2.0/mlflow``.
TRACKING_ROUTERS: tuple[APIRouter, ...] = (
    experiments.router,
    runs.router,
    search.router,
    artifacts.router,
    registry.router,
    fallback.router,  # last: anything else answers ENDPOINT_NOT_FOUND in MLflow's format
)
#: The artifact proxy, served under ``/api/2.0/mlflow-artifacts``.
PROXY_ROUTER: APIRouter = artifacts.proxy

__all__ = ["PROXY_ROUTER", "TRACKING_ROUTERS"]
