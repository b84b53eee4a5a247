"""A real uvicorn server on a free loopback port, serving an embedded store in a temp folder.

Starting uvicorn is the slow part, so one server per session is shared; each test swaps a
fresh store into ``app.state.store`` (the app reads the store from its state on every request).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from stackml.server import create_app
from stackml.store import Store, open_store


class LiveServer:
    """uvicorn running ``app`` in a background thread on 127.0.0.1 and a free port."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="warning", lifespan="off", ws="none")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    def start(self) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()


@dataclass
class Served:
    """What a test gets: the server's URL and the store behind it."""

    server: LiveServer
    store: Store
    root: Path

    @property
    def url(self) -> str:
        return self.server.url


def _fresh_store(root: Path) -> Store:
    return open_store(str(root))


@pytest.fixture(scope="session")
def _open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    placeholder = _fresh_store(tmp_path_factory.mktemp("placeholder"))
    server = LiveServer(create_app(placeholder, max_request_bytes=1 << 20)).start()
    yield server
    server.stop()
    placeholder.close()


@pytest.fixture(scope="session")
def _auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    placeholder = _fresh_store(tmp_path_factory.mktemp("placeholder-auth"))
    server = LiveServer(create_app(placeholder, auth=True, max_request_bytes=1 << 20)).start()
    yield server
    server.stop()
    placeholder.close()


def _serve(server: LiveServer, root: Path) -> Iterator[Served]:
    store = _fresh_store(root)
    previous = server.app.state.store
    server.app.state.store = store
    try:
        yield Served(server, store, root)
    finally:
        server.app.state.store = previous
        store.close()


@pytest.fixture
def served(_open_server: LiveServer, tmp_path: Path) -> Iterator[Served]:
    """A server without auth (1 MiB JSON limit) over a fresh embedded store."""
    yield from _serve(_open_server, tmp_path / "served")


@pytest.fixture
def served_postgres(
    _open_server: LiveServer, fresh_postgres_url: str, tmp_path: Path
) -> Iterator[Served]:
    """The server without auth over a fresh PostgreSQL database (blobs in a temp folder)."""
    from stackml.config import StoreLocation
    from stackml.store.blobs.local import LocalBlobStore
    from stackml.store.sql.store import SqlMetadataStore

    blobs = tmp_path / "blobs"
    location = StoreLocation("sql", fresh_postgres_url, str(blobs), None)
    store = Store(SqlMetadataStore(fresh_postgres_url), LocalBlobStore(blobs), location)
    previous = _open_server.app.state.store
    _open_server.app.state.store = store
    try:
        yield Served(_open_server, store, tmp_path)
    finally:
        _open_server.app.state.store = previous
        store.close()


@pytest.fixture
def served_auth(_auth_server: LiveServer, tmp_path: Path) -> Iterator[Served]:
    """A server with auth on over a fresh embedded store."""
    yield from _serve(_auth_server, tmp_path / "served-auth")


@pytest.fixture
def client(served: Served) -> Iterator[httpx.Client]:
    """An httpx client for the no-auth server."""
    with httpx.Client(base_url=served.url, timeout=30) as c:
        yield c


def raw_request(
    port: int, method: str, target: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    """Send one request with ``target`` exactly as given (no client-side normalisation)."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    lines.append(f"Content-Length: {len(body)}")
    payload = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(payload)
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
    response = b"".join(chunks)
    status_line, _, rest = response.partition(b"\r\n")
    status = int(status_line.split()[1])
    return status, rest.partition(b"\r\n\r\n")[2]
