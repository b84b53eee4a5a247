"""An MLflow-format answer for MLflow routes this server does not serve."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from stackml.server.mlflow.common import mlflow_router
from stackml.server.mlflow.errors import MlflowError

router = mlflow_router()


@router.api_route(
    "/{rest:path}",
    methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
    response_model=dict[str, Any],
)
def not_served(rest: str, request: Request) -> dict[str, Any]:
    """``ENDPOINT_NOT_FOUND`` (404), so the client raises its usual exception."""
    raise MlflowError(
        f"The MLflow endpoint {request.method} {request.url.path} is not served by stackml.",
        "ENDPOINT_NOT_FOUND",
        404,
    )
