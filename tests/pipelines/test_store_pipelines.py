"""The pipelines part of the metadata store on SQLite, PostgreSQL and through the server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stackml.store.rest import RestMetadataStore
from stackml.store.sql.store import SqlMetadataStore
from tests.pipelines.store_contract import PipelineStoreContract, PipelineWritesContract
from tests.server.conftest import Served, _open_server, served  # noqa: F401 - fixtures


class TestSqlite(PipelineStoreContract, PipelineWritesContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[SqlMetadataStore]:
        with SqlMetadataStore(f"sqlite:///{tmp_path / 'p.db'}") as opened:
            yield opened  # type: ignore[misc]


@pytest.mark.postgres
class TestPostgres(PipelineStoreContract, PipelineWritesContract):
    @pytest.fixture
    def store(self, fresh_postgres_url: str) -> Iterator[SqlMetadataStore]:
        with SqlMetadataStore(fresh_postgres_url) as opened:
            yield opened  # type: ignore[misc]


class TestRest(PipelineStoreContract, PipelineWritesContract):
    @pytest.fixture
    def store(self, served: Served) -> Iterator[RestMetadataStore]:  # noqa: F811
        with RestMetadataStore(served.url) as client:
            yield client  # type: ignore[misc]
