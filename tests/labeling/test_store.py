"""The labeling store contract on SQLite, PostgreSQL and through the REST API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stackml.store.rest import RestMetadataStore
from stackml.store.sql.store import SqlMetadataStore
from tests.labeling.contract import LabelingStoreContract
from tests.server.conftest import Served


class TestSqlite(LabelingStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[SqlMetadataStore]:
        with SqlMetadataStore(f"sqlite:///{tmp_path / 'stackml.db'}") as opened:
            yield opened  # type: ignore[misc]


@pytest.mark.postgres
class TestPostgres(LabelingStoreContract):
    @pytest.fixture
    def store(self, fresh_postgres_url: str) -> Iterator[SqlMetadataStore]:
        with SqlMetadataStore(fresh_postgres_url) as opened:
            yield opened  # type: ignore[misc]


class TestRest(LabelingStoreContract):
    @pytest.fixture
    def store(self, served: Served) -> Iterator[RestMetadataStore]:
        with RestMetadataStore(served.url) as client:
            yield client  # type: ignore[misc]


@pytest.mark.postgres
class TestRestOverPostgres(LabelingStoreContract):
    @pytest.fixture
    def store(self, served_postgres: Served) -> Iterator[RestMetadataStore]:
        with RestMetadataStore(served_postgres.url) as client:
            yield client  # type: ignore[misc]
