"""The MLflow tracking REST API (``/api/2.0/mlflow/``, ``/ajax-api/2.0/mlflow/``) and artifact
proxy, mapped onto stackml's own entities (the routes live in :mod:`stackml.server.mlflow`)."""

from __future__ import annotations

from fastapi import APIRouter

from stackml.server.mlflow import PROXY_ROUTER, TRACKING_ROUTERS

router = APIRouter(include_in_schema=False)

for _base in ("/api/2.0", "/ajax-api/2.0"):
    for _router in TRACKING_ROUTERS:
        router.include_router(_router, prefix=f"{_base}/mlflow")
    router.include_router(PROXY_ROUTER, prefix=f"{_base}/mlflow-artifacts")
