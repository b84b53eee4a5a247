"""MLflow's error format: ``{"error_code": ..., "message": ...}`` with MLflow's HTTP statuses.

Routes of the MLflow API use :class:`MlflowRoute`, which turns every error a handler, its
dependencies or request parsing raise into that format, so the ``mlflow`` client raises its
usual ``MlflowException`` (``RestException``) with the matching ``error_code``:

======================================  =============================  ======
stackml error                           MLflow ``error_code``          status
======================================  =============================  ======
``NotFound``                            ``RESOURCE_DOES_NOT_EXIST``    404
``AlreadyExists``                       ``RESOURCE_ALREADY_EXISTS``    400
``InvalidInput``, ``Conflict``          ``INVALID_PARAMETER_VALUE``    400
``PayloadTooLarge``                     ``INVALID_PARAMETER_VALUE``    413
``Unauthorized``                        ``UNAUTHENTICATED``            401
``Forbidden``                           ``PERMISSION_DENIED``          403
``StoreUnavailable``                    ``TEMPORARILY_UNAVAILABLE``    503
anything else                           ``INTERNAL_ERROR``             500
======================================  =============================  ======
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from stackml._internal.names import InvalidName
from stackml.errors import (
    AlreadyExists,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    StackmlError,
    StoreUnavailable,
    Unauthorized,
)
from stackml.server.errors import describe_validation_errors

logger = logging.getLogger("stackml.server.mlflow")

INVALID_PARAMETER_VALUE = "INVALID_PARAMETER_VALUE"
RESOURCE_DOES_NOT_EXIST = "RESOURCE_DOES_NOT_EXIST"
RESOURCE_ALREADY_EXISTS = "RESOURCE_ALREADY_EXISTS"


class MlflowError(InvalidInput):
    """An error with an explicit MLflow ``error_code`` (``INVALID_PARAMETER_VALUE`` by default)."""

    def __init__(self, message: str, code: str = INVALID_PARAMETER_VALUE, status: int = 400):
        super().__init__(message)
        self.code = code
        self.status = status


def classify(exc: BaseException) -> tuple[str, int]:
    """MLflow's ``(error_code, HTTP status)`` for an exception."""
    if isinstance(exc, MlflowError):
        return exc.code, exc.status
    if isinstance(exc, NotFound):
        return RESOURCE_DOES_NOT_EXIST, 404
    if isinstance(exc, AlreadyExists):
        return RESOURCE_ALREADY_EXISTS, 400
    if isinstance(exc, PayloadTooLarge):
        return INVALID_PARAMETER_VALUE, 413
    if isinstance(exc, (InvalidInput, Conflict, InvalidName, RequestValidationError)):
        return INVALID_PARAMETER_VALUE, 400
    if isinstance(exc, Forbidden):
        return "PERMISSION_DENIED", 403
    if isinstance(exc, Unauthorized):
        return "UNAUTHENTICATED", 401
    if isinstance(exc, StoreUnavailable):
        return "TEMPORARILY_UNAVAILABLE", 503
    return "INTERNAL_ERROR", 500


def mlflow_error_response(code: str, message: str, status: int) -> JSONResponse:
    """An error answer in MLflow's shape."""
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error_code": code, "message": message}, status, headers=headers)


class MlflowRoute(APIRoute):
    """A route whose errors answer in MLflow's format instead of stackml's."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except (StackmlError, InvalidName) as exc:
                code, status = classify(exc)
                if status >= 500:
                    logger.error("%s on %s: %s", type(exc).__name__, request.url.path, exc)
                return mlflow_error_response(code, str(exc), status)
            except RequestValidationError as exc:
                message = describe_validation_errors(exc.errors())
                return mlflow_error_response(INVALID_PARAMETER_VALUE, message, 400)
            except StarletteHTTPException as exc:
                code = RESOURCE_DOES_NOT_EXIST if exc.status_code == 404 else "BAD_REQUEST"
                return mlflow_error_response(code, str(exc.detail), exc.status_code)

        return answer
