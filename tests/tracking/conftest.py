"""Fixtures for the tracking SDK: the same tests run embedded and against a live server."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import stackml.tracking


@pytest.fixture(autouse=True)
def _clean_tracking() -> Iterator[None]:
    """Each test starts with no active run and no cached store."""
    stackml.tracking.reset()
    yield
    stackml.tracking.reset()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def live_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``stackml server`` (uvicorn) on a free loopback port, backed by a temp store."""
    try:
        import uvicorn

        from stackml.server.app import create_app
    except ImportError as exc:  # the server package is optional in a partial checkout
        pytest.skip(f"the server is not available: {exc}")
    from stackml.store import open_store

    root = tmp_path_factory.mktemp("server-store")
    store = open_store(str(root / ".stackml"))
    app = create_app(store)
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the stackml server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        store.close()


@pytest.fixture(params=["embedded", "server"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """Point the SDK at an embedded SQLite store in the test's directory, or at a live server."""
    if request.param == "server":
        url = request.getfixturevalue("live_server_url")
        monkeypatch.setenv("STACKML_TRACKING_URI", url)
    return str(request.param)
