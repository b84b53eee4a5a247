"""The real ``mlflow`` client pointed at a live ``stackml server`` over a fresh store per test."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from stackml.server import create_app
from stackml.store import Store, open_store
from tests.server.conftest import LiveServer

mlflow = pytest.importorskip("mlflow")


@dataclass
class MlflowServed:
    """A live server, the store behind it and the folder the store lives in."""

    server: LiveServer
    store: Store
    root: Path

    @property
    def url(self) -> str:
        return self.server.url


def _server(tmp_path_factory: pytest.TempPathFactory, name: str, auth: bool) -> LiveServer:
    placeholder = open_store(str(tmp_path_factory.mktemp(name)))
    server = LiveServer(create_app(placeholder, auth=auth, max_request_bytes=1 << 20))
    server.app.state.placeholder = placeholder
    return server.start()


@pytest.fixture(scope="session")
def _mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = _server(tmp_path_factory, "mlflow-placeholder", auth=False)
    yield server
    server.stop()
    server.app.state.placeholder.close()


@pytest.fixture(scope="session")
def _mlflow_auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = _server(tmp_path_factory, "mlflow-placeholder-auth", auth=True)
    yield server
    server.stop()
    server.app.state.placeholder.close()


def _reset_mlflow_client() -> None:
    """Forget the fluent API's active run and experiment between tests."""
    import mlflow.tracking.fluent as fluent

    while mlflow.active_run() is not None:
        mlflow.end_run()
    fluent._active_experiment_id = None


def _serve(
    server: LiveServer, root: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[MlflowServed]:
    store = open_store(str(root))
    previous = server.app.state.store
    server.app.state.store = store
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    mlflow.set_tracking_uri(server.url)
    _reset_mlflow_client()
    try:
        yield MlflowServed(server, store, root)
    finally:
        _reset_mlflow_client()
        server.app.state.store = previous
        store.close()


@pytest.fixture
def served(
    _mlflow_server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[MlflowServed]:
    """A stackml server without auth, with the MLflow client pointed at it."""
    yield from _serve(_mlflow_server, tmp_path / "served", monkeypatch)


@pytest.fixture
def served_auth(
    _mlflow_auth_server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[MlflowServed]:
    """A stackml server with auth on, with the MLflow client pointed at it (no token yet)."""
    yield from _serve(_mlflow_auth_server, tmp_path / "served-auth", monkeypatch)
