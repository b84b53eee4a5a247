"""What every resource router shares: the API prefix and the documented error answers."""

from __future__ import annotations

from typing import Any

from stackml.server.schemas import ErrorOut

API_PREFIX = "/api/v1"

#: Error answers every API route may give, declared so the OpenAPI spec shows their shape.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "Malformed request"},
    401: {"model": ErrorOut, "description": "Missing, unknown or revoked token"},
    403: {"model": ErrorOut, "description": "Not allowed for this user"},
    404: {"model": ErrorOut, "description": "Not found"},
    409: {"model": ErrorOut, "description": "Already exists or conflicts with stored state"},
    413: {"model": ErrorOut, "description": "Request body too large"},
}

BINARY_CONTENT: dict[str, Any] = {
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
}
