"""The HTTP transport shared by the REST metadata and blob stores.

It owns one keep-alive :class:`httpx.Client` (thread-safe), adds the bearer token, retries on
connection failures with bounded exponential backoff, and turns error answers back into the
typed :mod:`stackml.errors` exceptions the server mapped them from. It speaks plain JSON and
never imports the server package (the store layer sits below it).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import httpx

from stackml import errors
from stackml.errors import StackmlError, StoreUnavailable

#: Methods that may be repeated after a failure without changing the outcome.
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
API = "/api/v1"

_ERROR_TYPES: dict[str, type[StackmlError]] = {
    name: getattr(errors, name) for name in errors.__all__ if name != "StackmlError"
}
_STATUS_ERRORS: dict[int, type[StackmlError]] = {
    400: errors.InvalidInput,
    401: errors.Unauthorized,
    403: errors.Forbidden,
    404: errors.NotFound,
    409: errors.Conflict,
    413: errors.PayloadTooLarge,
    503: errors.StoreUnavailable,
}


def error_from_response(response: httpx.Response) -> StackmlError:
    """The typed exception an error answer stands for."""
    type_name, message = "", ""
    try:
        detail = response.json()["error"]
        type_name, message = str(detail["type"]), str(detail["message"])
    except Exception:
        message = response.text[:500] or response.reason_phrase
    cls = _ERROR_TYPES.get(type_name) or _STATUS_ERRORS.get(response.status_code, StackmlError)
    return cls(f"{message} (HTTP {response.status_code} from {response.request.url.path})")


class HttpTransport:
    """Requests to one stackml server.

    Args:
        base_url: the server's root URL, e.g. ``http://127.0.0.1:5000``.
        token: API token sent as ``Authorization: Bearer``.
        timeout: seconds per network operation.
        retries: extra attempts after a connection failure.
        backoff: first wait between attempts in seconds; doubles each time (capped at 2 s).
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.1,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"User-Agent": "stackml-client"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.client = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=timeout,
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
        )
        self.retries = retries
        self.backoff = backoff

    def _pause(self, attempt: int) -> None:
        time.sleep(min(self.backoff * (2**attempt), 2.0))

    def _may_retry(self, method: str, exc: httpx.TransportError) -> bool:
        # A failed connect never reached the server, so any method can be resent; other
        # transport errors may have, so only idempotent methods are.
        return isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)) or method in IDEMPOTENT

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        content: Any = None,
        headers: Mapping[str, str] | None = None,
        retry: bool = True,
    ) -> httpx.Response:
        """Send a request and return a successful answer; raise the typed error otherwise."""
        clean = None if params is None else {k: v for k, v in params.items() if v is not None}
        attempt = 0
        while True:
            try:
                response = self.client.request(
                    method, path, json=json, params=clean, content=content, headers=headers
                )
                break
            except httpx.TransportError as exc:
                if retry and attempt < self.retries and self._may_retry(method, exc):
                    self._pause(attempt)
                    attempt += 1
                    continue
                raise StoreUnavailable(
                    f"cannot reach the stackml server at {self.base_url} ({exc}); "
                    "check that `stackml server` is running and STACKML_TRACKING_URI is right"
                ) from exc
        if response.is_error:
            raise error_from_response(response)
        return response

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """:meth:`request` under the API prefix, answering the decoded JSON body."""
        return self.request(method, API + path, **kwargs).json()

    def open_stream(self, method: str, path: str) -> httpx.Response:
        """An answer whose body is not read yet; the caller reads and closes it."""
        attempt = 0
        while True:
            try:
                request = self.client.build_request(method, API + path)
                response = self.client.send(request, stream=True)
                break
            except httpx.TransportError as exc:
                if attempt < self.retries and self._may_retry(method, exc):
                    self._pause(attempt)
                    attempt += 1
                    continue
                raise StoreUnavailable(
                    f"cannot reach the stackml server at {self.base_url} ({exc})"
                ) from exc
        if response.is_error:
            try:
                response.read()
            finally:
                response.close()
            raise error_from_response(response)
        return response

    def close(self) -> None:
        """Close pooled connections."""
        self.client.close()
