"""The monitoring store contract on SQLite, PostgreSQL and through the REST server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stackml.server.app import create_app
from stackml.store import open_store
from stackml.store.rest import RestMetadataStore
from stackml.store.sql.store import SqlMetadataStore
from tests.monitoring.store_contract import MonitoringStoreContract
from tests.server.conftest import LiveServer


class TestSqlite(MonitoringStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[SqlMetadataStore]:
        s = SqlMetadataStore(f"sqlite:///{tmp_path / 'meta.db'}")
        yield s
        s.close()


@pytest.mark.postgres
class TestPostgres(MonitoringStoreContract):
    @pytest.fixture
    def store(self, fresh_postgres_url: str) -> Iterator[SqlMetadataStore]:
        s = SqlMetadataStore(fresh_postgres_url)
        yield s
        s.close()


class TestRest(MonitoringStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[RestMetadataStore]:
        served = open_store(str(tmp_path / "served"))
        server = LiveServer(create_app(served)).start()
        try:
            with RestMetadataStore(server.url) as client:
                yield client  # type: ignore[misc]
        finally:
            server.stop()
            served.close()
