"""What every MLflow route shares: request parsing, field checks, page tokens and reserved tags.

MLflow's client sends GET parameters in the query string and everything else as a JSON body
written by protobuf, where 64-bit integers may arrive as strings; the helpers here accept both
and raise :class:`~stackml.server.mlflow.errors.MlflowError` (``INVALID_PARAMETER_VALUE``) for
anything else.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import Any

from fastapi import APIRouter, Depends, Request

from stackml.server.auth import authenticated
from stackml.server.mlflow.errors import MlflowError, MlflowRoute
from stackml.tracking.importers.mlflow_mapping import DELETED, HIDDEN_TAGS, LIFECYCLE_TAG

__all__ = ["DELETED", "HIDDEN_TAGS", "LIFECYCLE_TAG"]

Body = dict[str, Any]


def mlflow_router() -> APIRouter:
    """A router whose routes answer errors in MLflow's format and need a token with auth on."""
    # MLflow documents this API; stackml's OpenAPI spec covers its own /api/v1 only.
    return APIRouter(
        route_class=MlflowRoute, dependencies=[Depends(authenticated)], include_in_schema=False
    )


async def mlflow_body(request: Request) -> Body:
    """The request's fields: the query string of a GET, else the JSON body (``{}`` if empty)."""
    if request.method in {"GET", "DELETE"} and not request.headers.get("content-length"):
        fields: Body = {}
        for key, value in request.query_params.multi_items():
            previous = fields.get(key)
            if previous is None:
                fields[key] = value
            elif isinstance(previous, list):
                previous.append(value)
            else:
                fields[key] = [previous, value]
        return fields
    raw = await request.body()
    if not raw.strip():
        return dict(request.query_params)
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise MlflowError(f"the request body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise MlflowError("the request body must be a JSON object")
    return data


def text(body: Body, key: str, *, required: bool = True, default: str | None = None) -> Any:
    """A string field; ``MlflowError`` when required and missing or not a string."""
    value = body.get(key)
    if value is None or (value == "" and required):
        if required:
            raise MlflowError(f"Missing value for required parameter '{key}'.")
        return default
    if not isinstance(value, str):
        raise MlflowError(f"Invalid value {value!r} for parameter '{key}': expected a string.")
    return value


def integer(body: Body, key: str, default: int | None = None) -> Any:
    """An integer field (protobuf sends int64 as a string); ``default`` when missing."""
    value = body.get(key)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise MlflowError(f"Invalid value {value!r} for parameter '{key}': expected an integer.")
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise MlflowError(
            f"Invalid value {value!r} for parameter '{key}': expected an integer."
        ) from exc


def number(value: Any, what: str) -> float:
    """A float field; protobuf spells NaN and the infinities as strings."""
    if isinstance(value, bool) or value is None:
        raise MlflowError(f"Invalid value {value!r} for {what}: expected a number.")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and value in {"NaN", "Infinity", "-Infinity", "inf", "-inf", "nan"}:
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise MlflowError(f"Invalid value {value!r} for {what}: expected a number.") from exc


def wire(value: float) -> float | str:
    """A float ready for protobuf JSON: NaN and the infinities as strings."""
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def strings(body: Body, key: str) -> list[str]:
    """A list-of-strings field (a single string counts as a list of one)."""
    value = body.get(key)
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise MlflowError(f"Invalid value {value!r} for parameter '{key}': expected strings.")
    return value


def key_values(body: Body, key: str) -> list[tuple[str, str]]:
    """A list of ``{"key": ..., "value": ...}`` objects as pairs."""
    items = body.get(key) or []
    if not isinstance(items, list):
        raise MlflowError(f"Invalid value for parameter '{key}': expected a list.")
    pairs = []
    for item in items:
        if not isinstance(item, dict):
            raise MlflowError(f"Invalid entry {item!r} in '{key}': expected an object.")
        pairs.append((text(item, "key"), _value(item, key)))
    return pairs


def _value(item: Body, where: str) -> str:
    value = item.get("value", "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise MlflowError(f"Invalid value {value!r} in '{where}': expected a string.")
    return value


def encode_offset(offset: int, scope: str) -> str:
    """An opaque page token for ``offset`` within a listing named ``scope``."""
    raw = json.dumps({"o": offset, "s": scope}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_offset(token: str | None, scope: str) -> int:
    """The offset a token from :func:`encode_offset` stands for (0 without a token)."""
    if not token:
        return 0
    bad = MlflowError("Invalid page token: pass back next_page_token unchanged.")
    if not isinstance(token, str) or len(token) > 512:
        raise bad
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, binascii.Error, UnicodeError) as exc:
        raise bad from exc
    if not isinstance(data, dict) or data.get("s") != scope:
        raise bad
    offset = data.get("o")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise bad
    return offset
