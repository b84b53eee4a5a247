"""``fetch_all``: compiled statements on the driver cursor give what SQLAlchemy gives."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import bindparam, column, exc, literal, select, table

from stackml.errors import StoreUnavailable
from stackml.store.sql.direct import fetch_all
from stackml.store.sql.snapshots import PARAMS
from stackml.store.sql.store import SqlMetadataStore


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlMetadataStore]:
    url = (
        f"sqlite:///{tmp_path / 'stackml.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("fresh_postgres_url")
    )
    with SqlMetadataStore(url) as opened:
        for i in range(5):
            opened.create_run("p", params={"lr": str(i), "opt": "adam" if i % 2 else "sgd"})
        yield opened


def _both(store: SqlMetadataStore, statement: object, params: dict[str, object]) -> None:
    def work(conn: object) -> None:
        direct = [tuple(row) for row in fetch_all(conn, statement, params)]  # type: ignore[arg-type]
        usual = [tuple(row) for row in conn.execute(statement, params).all()]  # type: ignore[attr-defined]
        assert direct == usual and direct

    store._db.transact(work, write=False, what="test")


def test_named_and_embedded_parameters_bind_as_sqlalchemy_binds_them(
    store: SqlMetadataStore,
) -> None:
    statement = (
        select(PARAMS.c.run_id, PARAMS.c.key, PARAMS.c.value, literal(1.5))
        .where(PARAMS.c.key == "opt", PARAMS.c.value == bindparam("wanted"))
        .order_by(PARAMS.c.run_id)
        .limit(bindparam("n"))
    )
    _both(store, statement, {"wanted": "adam", "n": 10})


def test_expanding_in_lists_take_sqlalchemy_s_path(store: SqlMetadataStore) -> None:
    statement = select(PARAMS.c.value).where(
        PARAMS.c.value.in_(bindparam("values", expanding=True))
    )
    _both(store, statement, {"values": ["1", "2", "3"]})


def test_driver_errors_come_back_as_sqlalchemy_errors(store: SqlMetadataStore) -> None:
    missing = select(column("x")).select_from(table("no_such_table"))

    def work(conn: object) -> None:
        fetch_all(conn, missing, {})  # type: ignore[arg-type]

    # Raised as SQLAlchemy would raise it, so the store translates it as usual.
    with pytest.raises(exc.DBAPIError), store._db.engine.connect() as conn:
        work(conn)
    with pytest.raises(StoreUnavailable):
        store._db.transact(work, write=False, what="read a missing table")
