"""Request size limit as a pure ASGI middleware.

JSON bodies are parsed whole, so a body larger than ``max_request_bytes`` is refused with 413
before it is read. Streamed uploads (blobs and artifact files) go to disk chunk by chunk and
have no limit; they are recognised by method and path.
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stackml.server.errors import error_response

#: How far past the limit a refused body is still read, so the client sees the 413.
_DRAIN_BYTES = 64 << 20

#: Routes that stream their body to the blob store instead of parsing it.
STREAMED_UPLOADS = (
    re.compile(r"^/api/v1/blobs/?$"),
    re.compile(r"^/api/v1/runs/[^/]+/artifacts/.+$"),
    re.compile(r"^/(?:ajax-)?api/2\.0/mlflow-artifacts/artifacts/.+$"),
)


def is_streamed_upload(method: str, path: str) -> bool:
    """Whether a request is a streamed upload, exempt from the size limit."""
    return method == "PUT" and any(p.match(path) for p in STREAMED_UPLOADS)


class BodySizeLimit:
    """Answer 413 when a request body exceeds ``max_bytes``.

    A declared ``Content-Length`` is checked up front. A chunked body is read into memory up
    to the limit (the route would parse all of it anyway) and replayed to the application.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_streamed_upload(scope["method"], scope["path"]):
            await self.app(scope, receive, send)
            return
        declared = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await self._refuse(scope, receive, send, 400, "invalid Content-Length")
                    return
        if declared is not None:
            if declared > self.max_bytes:
                if declared <= self.max_bytes + _DRAIN_BYTES:
                    await _drain(receive)
                await self._too_large(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        # No length declared: buffer up to the limit, then replay.
        chunks: list[bytes] = []
        total = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([], message, receive), send)
                return
            body = message.get("body", b"")
            total += len(body)
            if total > self.max_bytes:
                if message.get("more_body", False):
                    await _drain(receive, self.max_bytes + _DRAIN_BYTES - total)
                await self._too_large(scope, receive, send)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(chunks, None, receive), send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._refuse(
            scope,
            receive,
            send,
            413,
            f"request body is larger than the limit of {self.max_bytes} bytes "
            "(STACKML_MAX_REQUEST_BYTES); upload files through the streamed artifact routes",
        )

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, msg: str) -> None:
        type_ = "PayloadTooLarge" if status == 413 else "InvalidInput"
        response = error_response(status, type_, msg)
        # The unread body is left behind; closing the connection stops the client sending it.
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


async def _drain(receive: Receive, budget: int = _DRAIN_BYTES) -> None:
    """Read and drop the rest of a refused body, up to ``budget`` bytes.

    A client still sending when the server answers and closes sees a reset instead of the
    413; draining a moderately oversized body lets it read the answer. A body beyond the
    budget is cut off.
    """
    while budget > 0:
        message = await receive()
        if message["type"] != "http.request":
            return
        budget -= len(message.get("body", b""))
        if not message.get("more_body", False):
            return


def _replay(chunks: list[bytes], final: Message | None, downstream: Receive) -> Receive:
    """A ``receive`` that hands back an already-read body, then defers to the real one.

    Deferring matters: streaming responses watch ``receive`` for the client's disconnect.
    """
    body = b"".join(chunks)
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            if final is not None:
                return final
            return {"type": "http.request", "body": body, "more_body": False}
        return await downstream()

    return receive
