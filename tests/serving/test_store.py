"""The deployment-store contract on SQLite, PostgreSQL and through ``RestMetadataStore``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stackml.errors import InvalidInput, NotFound
from stackml.store.base import MetadataStore
from stackml.store.rest import RestMetadataStore
from stackml.store.sql.store import SqlMetadataStore
from tests.server.conftest import Served

BLOB = "ab" * 32
MODELS = [{"ref": "digits@prod", "name": "digits", "version": 3, "variant": "primary"}]


class DeploymentStoreContract:
    """Behaviour every store shows for deployments, chunks and feedback."""

    def test_deployment_round_trip_and_heartbeat(self, store: MetadataStore) -> None:
        first = store.record_deployment(
            "digits-api",
            url="http://127.0.0.1:8080",
            models=MODELS,
            status="starting",
            config={"max_batch": 32},
        )
        assert first.status == "starting" and first.models[0]["version"] == 3
        again = store.record_deployment(
            "digits-api",
            url="http://127.0.0.1:8080",
            models=MODELS,
            status="ready",
            metrics={"requests": 10, "p99_ms": 4.5},
        )
        assert again.started_at == first.started_at
        assert again.heartbeat_at >= first.heartbeat_at
        assert store.get_deployment("digits-api") == again
        assert again.metrics == {"requests": 10, "p99_ms": 4.5}
        assert [d.name for d in store.list_deployments()] == ["digits-api"]
        store.delete_deployment("digits-api")
        with pytest.raises(NotFound):
            store.get_deployment("digits-api")
        with pytest.raises(NotFound):
            store.delete_deployment("digits-api")

    def test_bad_deployments_are_refused(self, store: MetadataStore) -> None:
        with pytest.raises(InvalidInput):
            store.record_deployment("bad name", url="x", models=MODELS, status="ready")
        with pytest.raises(InvalidInput):
            store.record_deployment("d", url="x", models=[], status="ready")
        with pytest.raises(InvalidInput):
            store.record_deployment("d", url="x", models=MODELS, status="sleeping")
        with pytest.raises(InvalidInput):
            bad = [dict(MODELS[0], weight=1.5)]
            store.record_deployment("d", url="x", models=bad, status="ready")
        assert store.list_deployments() == []

    def test_chunks_by_time_range(self, store: MetadataStore) -> None:
        a = store.add_prediction_chunk("d", start_ms=100, end_ms=200, num_rows=5, parquet_hash=BLOB)
        b = store.add_prediction_chunk(
            "d", start_ms=300, end_ms=400, num_rows=2, parquet_hash=BLOB, tensor_blob="cd" * 32
        )
        store.add_prediction_chunk("other", start_ms=0, end_ms=1000, num_rows=1, parquet_hash=BLOB)
        assert store.list_prediction_chunks("d") == [a, b]
        assert store.list_prediction_chunks("d", since_ms=250) == [b]
        assert store.list_prediction_chunks("d", until_ms=250) == [a]
        assert store.list_prediction_chunks("d", since_ms=150, until_ms=350) == [a, b]
        assert b.tensor_blob == "cd" * 32 and b.num_rows == 2
        for bad in (
            {"start_ms": 5, "end_ms": 1, "num_rows": 1, "parquet_hash": BLOB},
            {"start_ms": 1, "end_ms": 5, "num_rows": -1, "parquet_hash": BLOB},
            {"start_ms": 1, "end_ms": 5, "num_rows": 1, "parquet_hash": "../etc"},
        ):
            with pytest.raises(InvalidInput):
                store.add_prediction_chunk("d", **bad)  # type: ignore[arg-type]

    def test_feedback(self, store: MetadataStore) -> None:
        one = store.add_feedback("d", "req-1", label="7")
        two = store.add_feedback("d", "req-2", flag="wrong")
        store.add_feedback("e", "req-1", label="3")
        assert [f.request_id for f in store.list_feedback("d")] == ["req-1", "req-2"]
        assert store.list_feedback("d", request_ids=["req-2"]) == [two]
        assert store.list_feedback("d", limit=1) == [one]
        assert store.list_feedback("d", request_ids=[]) == []
        with pytest.raises(InvalidInput):
            store.add_feedback("d", "req-3")
        with pytest.raises(InvalidInput):
            store.add_feedback("d", "req-3", flag="nonsense")
        with pytest.raises(InvalidInput):
            store.add_feedback("d", "", label="1")


class TestSqlite(DeploymentStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[SqlMetadataStore]:
        s = SqlMetadataStore(f"sqlite:///{tmp_path / 's.db'}")
        yield s
        s.close()


@pytest.mark.postgres
class TestPostgres(DeploymentStoreContract):
    @pytest.fixture
    def store(self, fresh_postgres_url: str) -> Iterator[SqlMetadataStore]:
        s = SqlMetadataStore(fresh_postgres_url)
        yield s
        s.close()


class TestRest(DeploymentStoreContract):
    @pytest.fixture
    def store(self, served: Served) -> Iterator[RestMetadataStore]:
        with RestMetadataStore(served.url) as client:
            yield client  # type: ignore[misc]


@pytest.mark.postgres
class TestRestOverPostgres(DeploymentStoreContract):
    @pytest.fixture
    def store(self, served_postgres: Served) -> Iterator[RestMetadataStore]:
        with RestMetadataStore(served_postgres.url) as client:
            yield client  # type: ignore[misc]
