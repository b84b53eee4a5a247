"""``MetadataStore.reading()``: several reads in one read transaction, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stackml.errors import NotFound
from stackml.store.sql.store import SqlMetadataStore


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'stackml.db'}"
    else:
        yield request.getfixturevalue("fresh_postgres_url")


def _count(store: SqlMetadataStore) -> int:
    return len(store.search_runs(project="p", limit=100).runs)


def test_reads_in_a_block_see_one_snapshot(url: str) -> None:
    with SqlMetadataStore(url) as store, SqlMetadataStore(url) as other:
        store.create_run("p")
        with store.reading():
            assert _count(store) == 1
            other.create_run("p")  # another client commits meanwhile
            assert _count(store) == 1  # the block's snapshot does not move
            assert [p.name for p in store.list_projects()] == ["p"]
        assert _count(store) == 2


def test_reads_in_a_block_share_one_connection(url: str) -> None:
    with SqlMetadataStore(url) as store:
        store.create_run("p")
        checkouts: list[object] = []
        from sqlalchemy import event

        def on_checkout(*_: object) -> None:
            checkouts.append(1)

        event.listen(store._db.engine, "checkout", on_checkout)
        with store.reading():
            store.search_runs(project="p")
            store.list_projects()
            with pytest.raises(NotFound):  # a failed read leaves the block usable
                store.get_metric_definition("p")
            with store.reading():  # a nested block joins the outer one
                store.list_projects()
            assert _count(store) == 1
        assert len(checkouts) == 1
        store.list_projects()
        assert len(checkouts) == 2


def test_writes_inside_a_block_commit_on_their_own(url: str) -> None:
    with SqlMetadataStore(url) as store:
        with store.reading():
            assert _count(store) == 0
            run = store.create_run("p")
            store.set_tags(run.id, {"k": "v"})
        assert store.get_run(run.id).tags["k"] == "v"
        assert _count(store) == 1


def test_an_error_in_the_block_propagates_and_leaves_the_store_usable(url: str) -> None:
    with SqlMetadataStore(url) as store:
        store.create_run("p")
        with pytest.raises(RuntimeError), store.reading():
            store.list_projects()
            raise RuntimeError("boom")
        assert _count(store) == 1


def test_in_memory_sqlite_reads_as_usual() -> None:
    # One shared connection used in turns: the block must not hold the turn a write needs.
    with SqlMetadataStore("sqlite://") as store, store.reading():
        run = store.create_run("p")
        assert store.get_run(run.id).project == "p"
