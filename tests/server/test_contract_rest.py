"""The shared metadata-store contract, run through ``RestMetadataStore`` against a live server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stackml.store.rest import RestMetadataStore
from tests.server.conftest import Served
from tests.store.contract import MetadataStoreContract


class TestRestOverSqlite(MetadataStoreContract):
    @pytest.fixture
    def store(self, served: Served) -> Iterator[RestMetadataStore]:
        with RestMetadataStore(served.url) as client:
            yield client  # type: ignore[misc]


@pytest.mark.postgres
class TestRestOverPostgres(MetadataStoreContract):
    @pytest.fixture
    def store(self, served_postgres: Served) -> Iterator[RestMetadataStore]:
        with RestMetadataStore(served_postgres.url) as client:
            yield client  # type: ignore[misc]
