"""The sweeps store on SQLite, PostgreSQL and through the REST server, and where Optuna's
tables live beside stackml's own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from stackml.errors import InvalidInput
from stackml.store import open_store
from stackml.store.rest import RestMetadataStore
from stackml.store.sql.migrate import head_revision
from stackml.store.sql.store import SqlMetadataStore
from stackml.tuning import create_sweep, optimize
from tests.server.conftest import Served, _open_server, served  # noqa: F401
from tests.tuning.conftest import definition, quadratic
from tests.tuning.contract import SweepStoreContract


class TestSqlite(SweepStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[SqlMetadataStore]:
        with SqlMetadataStore(f"sqlite:///{tmp_path / 'sweeps.db'}") as opened:
            yield opened


@pytest.mark.postgres
class TestPostgres(SweepStoreContract):
    @pytest.fixture
    def store(self, fresh_postgres_url: str) -> Iterator[SqlMetadataStore]:
        with SqlMetadataStore(fresh_postgres_url) as opened:
            yield opened


class TestRest(SweepStoreContract):
    @pytest.fixture
    def store(self, served: Served) -> Iterator[RestMetadataStore]:  # noqa: F811
        with RestMetadataStore(served.url) as client:
            yield client  # type: ignore[misc]

    def test_rest_store_refuses_to_lend_the_study(self, store: RestMetadataStore) -> None:
        with pytest.raises(InvalidInput, match="STACKML_TRACKING_URI"):
            store.study_storage_url()


def test_sweeps_need_a_database_not_a_server(served: Served) -> None:  # noqa: F811
    with pytest.raises(InvalidInput, match="does not lend"):
        create_sweep(definition("remote"), tracking_uri=served.url)


def _versions(engine: sa.Engine, schema: str | None = None) -> list[str]:
    table = f"{schema}.alembic_version" if schema else "alembic_version"
    with engine.connect() as conn:
        return [row[0] for row in conn.execute(sa.text(f"SELECT version_num FROM {table}"))]


def test_sqlite_keeps_optuna_apart_from_stackml_migrations(tmp_path: Path) -> None:
    uri = str(tmp_path / "store")
    optimize(definition("apart"), quadratic, tracking_uri=uri)
    main = sa.create_engine(f"sqlite:///{tmp_path / 'store' / '.stackml' / 'stackml.db'}")
    side = sa.create_engine(f"sqlite:///{tmp_path / 'store' / '.stackml' / 'optuna.db'}")
    try:
        assert _versions(main) == [head_revision()]
        assert "trials" not in sa.inspect(main).get_table_names()
        assert {"studies", "trials", "version_info"} <= set(sa.inspect(side).get_table_names())
        assert _versions(side) != [head_revision()]  # Optuna's own revision, in its own file
    finally:
        main.dispose()
        side.dispose()
    store = open_store(uri)  # reopening runs no migration and finds the schema at head
    assert store.metadata.list_sweeps()[0].name == "apart"
    store.close()


@pytest.mark.postgres
def test_postgres_keeps_optuna_in_its_own_schema(fresh_postgres_url: str) -> None:
    import optuna

    optimize(definition("pg"), quadratic, tracking_uri=fresh_postgres_url)
    engine = sa.create_engine(fresh_postgres_url)
    try:
        inspector = sa.inspect(engine)
        assert _versions(engine, "public") == [head_revision()]
        assert "trials" not in inspector.get_table_names(schema="public")
        assert {"studies", "trials", "alembic_version"} <= set(
            inspector.get_table_names(schema="optuna")
        )
        assert _versions(engine, "optuna") != [head_revision()]
    finally:
        engine.dispose()
    # Optuna itself opens the schema and passes its own version check.
    storage = optuna.storages.RDBStorage(
        fresh_postgres_url,
        engine_kwargs={"connect_args": {"options": "-c search_path=optuna"}},
    )
    assert len(optuna.get_all_study_summaries(storage)) == 1
    storage.engine.dispose()
    with SqlMetadataStore(fresh_postgres_url) as reopened:  # stackml's migrations still at head
        assert reopened.list_sweeps()[0].name == "pg"
