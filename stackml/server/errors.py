"""Errors as HTTP answers, mapped once here.

Every error body has the shape ``{"error": {"type": "NotFound", "message": "..."}}``:

* :class:`~stackml.errors.StackmlError` subclasses answer with their ``http_status``;
* request validation errors and malformed JSON answer 400 (never 422);
* Starlette's own HTTP errors (unknown route, wrong method) keep their status;
* anything unexpected answers 500 without a traceback and is logged here, server-side.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stackml._internal.names import InvalidName
from stackml.errors import StackmlError

logger = logging.getLogger("stackml.server")

_STATUS_TYPES = {
    400: "InvalidInput",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    413: "PayloadTooLarge",
    500: "InternalError",
    503: "StoreUnavailable",
}


def error_body(type_: str, message: str) -> dict[str, Any]:
    """The JSON body of an error answer."""
    return {"error": {"type": type_, "message": message}}


def error_response(status: int, type_: str, message: str) -> JSONResponse:
    """An error answer with the house shape."""
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(error_body(type_, message), status_code=status, headers=headers)


def describe_validation_errors(errors: Sequence[Any]) -> str:
    """One readable line per problem, e.g. ``body.limit: Input should be a valid integer``."""
    lines = []
    for err in errors[:10]:
        if err.get("type") == "json_invalid":
            lines.append("request body is not valid JSON")
            continue
        where = ".".join(str(part) for part in err.get("loc", ()))
        lines.append(f"{where}: {err.get('msg', 'invalid value')}")
    if len(errors) > 10:
        lines.append(f"... and {len(errors) - 10} more problems")
    return "; ".join(lines) or "invalid request"


def stackml_error_response(request: Request, exc: StackmlError) -> JSONResponse:
    """The answer to a typed error: its status and a JSON body (server errors are logged)."""
    status = exc.http_status
    if status >= 500:
        logger.error("%s on %s %s: %s", type(exc).__name__, request.method, request.url.path, exc)
    return error_response(status, type(exc).__name__, str(exc))


async def _stackml_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StackmlError)
    return stackml_error_response(request, exc)


async def _invalid_name(request: Request, exc: Exception) -> JSONResponse:
    return error_response(400, "InvalidInput", str(exc))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(400, "InvalidInput", describe_validation_errors(exc.errors()))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    type_ = _STATUS_TYPES.get(exc.status_code, "HTTPError")
    response = error_response(exc.status_code, type_, str(exc.detail))
    if exc.headers:
        response.headers.update(exc.headers)
    return response


def register_error_handlers(app: FastAPI) -> None:
    """Install the handlers that turn exceptions into error answers."""
    app.add_exception_handler(StackmlError, _stackml_error)
    app.add_exception_handler(InvalidName, _invalid_name)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)


class InternalErrorMiddleware:
    """Answer 500 JSON for any unexpected exception and log it once, here.

    Starlette's outermost error middleware would re-raise after answering, printing the
    traceback a second time through the server; catching inside it keeps one log entry.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            logger.exception("unexpected error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise  # too late to answer; the server closes the connection
            response = error_response(500, "InternalError", "internal server error; see server log")
            await response(scope, receive, send)
