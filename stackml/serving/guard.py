"""ASGI middleware in front of every serving route: token auth, body size limit (413),
draining (503 with ``Connection: close``), in-flight accounting and request metrics."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from typing import Any

from stackml.errors import StackmlError
from stackml.serving.runtime import ServingRuntime

__all__ = ["PUBLIC_PATHS", "Guard", "PayloadTooLarge"]

#: Routes that need no token and stay open while draining (probes and scrapes).
PUBLIC_PATHS = frozenset({"/v2/health/live", "/v2/health/ready", "/metrics"})

Scope = dict[str, Any]
#: How long a store token stays accepted without asking the store again (revocation delay).
TOKEN_CACHE_SECONDS = 60.0


async def _reply(send: Any, status: int, message: str, headers: dict[str, str]) -> None:
    body = json.dumps({"error": message}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class PayloadTooLarge(StackmlError):
    """The body grew past the size limit while it streamed in (answered with 413)."""


class Guard:
    """Wraps the serving app; see the module docstring."""

    def __init__(self, app: Any, runtime: ServingRuntime, *, infer: Any = None) -> None:
        self.app = app
        self.runtime = runtime
        # The v2 infer route answered without FastAPI (see ``stackml.serving.app.DirectInfer``).
        self.infer = infer
        self._known: dict[str, float] = {}  # hashed valid store tokens -> checked at

    async def _valid(self, secret: str) -> bool:
        """The static token, or a stackml API token the store knows (cached for a minute)."""
        options = self.runtime.options
        if options.token is not None and hmac.compare_digest(
            secret.encode(), options.token.encode()
        ):
            return True
        store = self.runtime.store
        if not options.store_tokens or store is None or not secret:
            return False
        key = hashlib.sha256(secret.encode()).hexdigest()
        checked = self._known.get(key)
        if checked is not None and time.monotonic() - checked < TOKEN_CACHE_SECONDS:
            return True
        user = await asyncio.to_thread(store.metadata.authenticate, secret)
        if user is None:
            self._known.pop(key, None)
            return False
        self._known[key] = time.monotonic()
        return True

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        runtime = self.runtime
        path: str = scope["path"]
        if path in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        authorization = length = None
        for key, value in scope["headers"]:  # only two headers matter here
            lowered = key.lower()
            if lowered == b"content-length":
                length = value.decode("latin-1")
            elif lowered == b"authorization":
                authorization = value.decode("latin-1")
        route = _route(path)
        model = _model(path)
        model = model if model in runtime.endpoints else ""  # bounded label values
        started = time.perf_counter()
        if runtime.draining:
            runtime.refused_draining += 1
            runtime.metrics.observe(model, route, 503, 0.0)
            await _reply(
                send,
                503,
                "the server is shutting down",
                {"Retry-After": "1", "Connection": "close"},
            )
            return
        if runtime.options.token is not None or runtime.options.store_tokens:
            given = authorization or ""
            scheme, _, secret = given.partition(" ")
            if scheme.lower() != "bearer" or not await self._valid(secret):
                runtime.metrics.observe(model, route, 401, 0.0)
                await _reply(send, 401, "missing or wrong token", {"WWW-Authenticate": "Bearer"})
                return
        limit = runtime.options.max_body_bytes
        if length is not None and length.isdigit() and int(length) > limit:
            runtime.metrics.observe(model, route, 413, 0.0)
            await _reply(send, 413, f"the request body is larger than {limit} bytes", {})
            return
        received = 0

        async def limited_receive() -> Any:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLarge(f"the request body is larger than {limit} bytes")
            return message

        status = 500
        started_response = False

        async def watch_send(message: Any) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                status = message["status"]
                started_response = True
                if runtime.draining:  # let the client reconnect instead of reusing this one
                    headers = [h for h in message.get("headers", []) if h[0] != b"connection"]
                    message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        runtime.accepted += 1
        runtime.metrics.active += 1
        try:
            target = None
            if self.infer is not None and route == "infer" and scope["method"] == "POST":
                try:
                    target = self.infer.target(path)
                except StackmlError as exc:
                    status = 400
                    await _reply(send, 400, str(exc), {})
                    return
            if target is not None:
                await self.infer(scope, limited_receive, watch_send, target)
            else:
                await self.app(scope, limited_receive, watch_send)
        except PayloadTooLarge:
            status = 413
            if not started_response:
                await _reply(send, 413, f"the request body is larger than {limit} bytes", {})
        finally:
            runtime.metrics.active -= 1
            runtime.completed += 1
            runtime.metrics.observe(model, route, status, time.perf_counter() - started)


def _route(path: str) -> str:
    if path.startswith("/v2/models/") and path.endswith("/infer"):
        return "infer"
    if path.startswith("/predict"):
        return "predict"
    if path.startswith("/feedback"):
        return "feedback"
    return "other"


def _model(path: str) -> str:
    if path.startswith("/v2/models/"):
        return path.split("/")[3]
    if path.startswith("/predict/"):
        return path.split("/")[2]
    return ""
