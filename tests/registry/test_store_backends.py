"""The registry store contract on SQLite, PostgreSQL, and through the REST API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from stackml.server import create_app
from stackml.store import open_store
from stackml.store.base import MetadataStore
from stackml.store.rest import RestMetadataStore
from stackml.store.sql.store import SqlMetadataStore
from tests.registry.contract import RegistryStoreContract, _draft, _run_with_model
from tests.server.conftest import LiveServer


class TestSqlite(RegistryStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[MetadataStore]:
        with SqlMetadataStore(f"sqlite:///{tmp_path / 'stackml.db'}") as opened:
            yield opened


@pytest.mark.postgres
class TestPostgres(RegistryStoreContract):
    @pytest.fixture
    def store(self, fresh_postgres_url: str) -> Iterator[MetadataStore]:
        with SqlMetadataStore(fresh_postgres_url) as opened:
            yield opened


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    placeholder = open_store(str(tmp_path_factory.mktemp("registry-placeholder")))
    server = LiveServer(create_app(placeholder)).start()
    yield server
    server.stop()
    placeholder.close()


class TestRest(RegistryStoreContract):
    @pytest.fixture
    def store(self, live: LiveServer, tmp_path: Path) -> Iterator[MetadataStore]:
        served = open_store(str(tmp_path / "served"))
        previous = live.app.state.store
        live.app.state.store = served
        try:
            with RestMetadataStore(live.url) as client:
                yield client
        finally:
            live.app.state.store = previous
            served.close()


def test_rest_bad_input_is_4xx_never_500(live: LiveServer, tmp_path: Path) -> None:
    served = open_store(str(tmp_path / "served"))
    previous = live.app.state.store
    live.app.state.store = served
    try:
        run_id = _run_with_model(served.metadata)
        served.metadata.create_model_version(_draft(run_id))
        with httpx.Client(base_url=live.url + "/api/v1") as http:
            assert http.get("/models/iris/versions/abc").status_code == 400
            assert http.get("/models/iris/versions/9").status_code == 404
            assert http.get("/models/..%2Fx").status_code in (400, 404)
            bad = http.post(
                "/models/iris/versions",
                json={
                    "run_id": run_id,
                    "artifact_path": "../etc",
                    "format": "onnx",
                    "files": [],
                    "signature": {},
                },
            )
            assert bad.status_code == 400
            slip = http.post(
                "/models/iris/versions",
                json={
                    "run_id": run_id,
                    "artifact_path": "file:///etc",
                    "format": "onnx",
                    "files": [{"path": "file:///etc/passwd", "blob_hash": "ab" * 32, "size": 1}],
                    "signature": {"inputs": [{"name": "x", "dtype": "float32", "shape": [-1]}]},
                },
            )
            assert slip.status_code == 400
            move = http.put(
                "/models/iris/aliases/production",
                json={"version": 1, "action": "promote", "reason": "ok", "author": "ada"},
            )
            assert move.status_code == 200 and move.json()["author"] == "ada"
            assert http.put("/models/iris/aliases/3", json={"version": 1}).status_code == 400
            assert http.get("/models/iris/aliases/production").json()["version"] == 1
    finally:
        live.app.state.store = previous
        served.close()
