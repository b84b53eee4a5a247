"""Migrations match the models and tolerate concurrent cold starts."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from stackml.store.sql.migrate import current_revision, head_revision
from stackml.store.sql.models import Base
from stackml.store.sql.store import SqlMetadataStore


def _diff(url: str) -> list[object]:
    store = SqlMetadataStore(url)
    try:
        with store._db.engine.connect() as conn:
            assert current_revision(conn) == head_revision()
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))
    finally:
        store.close()


def test_models_match_migrations_sqlite(tmp_path: Path) -> None:
    assert _diff(f"sqlite:///{tmp_path / 'm.db'}") == []


@pytest.mark.postgres
def test_models_match_migrations_postgres(fresh_postgres_url: str) -> None:
    assert _diff(fresh_postgres_url) == []


def _open_and_write(url: str, index: int) -> str:
    with SqlMetadataStore(url) as store:
        return store.create_run("cold", name=f"r{index}").id


def _cold_start(url: str, processes: int = 3) -> None:
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes) as pool:
        ids = pool.starmap(_open_and_write, [(url, i) for i in range(processes)])
    with SqlMetadataStore(url) as store:
        found = store.search_runs(project="cold").runs
    assert sorted(r.id for r in found) == sorted(ids)


def test_concurrent_cold_start_sqlite(tmp_path: Path) -> None:
    _cold_start(f"sqlite:///{tmp_path / 'cold.db'}")


@pytest.mark.postgres
def test_concurrent_cold_start_postgres(fresh_postgres_url: str) -> None:
    _cold_start(fresh_postgres_url)
