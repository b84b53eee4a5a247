"""The metadata-store contract on SQLite and PostgreSQL, plus SQL-specific behaviour."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from stackml.errors import InvalidInput, StoreUnavailable
from stackml.store.sql.store import SqlMetadataStore
from tests.store.contract import MetadataStoreContract


class TestSqlite(MetadataStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[SqlMetadataStore]:
        with SqlMetadataStore(f"sqlite:///{tmp_path / 'stackml.db'}") as opened:
            yield opened  # type: ignore[misc]


@pytest.mark.postgres
class TestPostgres(MetadataStoreContract):
    @pytest.fixture
    def store(self, fresh_postgres_url: str) -> Iterator[SqlMetadataStore]:
        with SqlMetadataStore(fresh_postgres_url) as opened:
            yield opened  # type: ignore[misc]


def test_sqlite_pragmas(tmp_path: Path) -> None:
    store = SqlMetadataStore(f"sqlite:///{tmp_path / 'x.db'}")
    with store._db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 30_000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    store.close()


def test_reopening_keeps_data(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nested' / 'dir' / 'x.db'}"
    with SqlMetadataStore(url) as first:
        run_id = first.create_run("p", name="kept").id
    with SqlMetadataStore(url) as second:
        assert second.get_run(run_id).name == "kept"


def test_memory_store_is_shared_across_threads() -> None:
    import threading

    store = SqlMetadataStore("sqlite://")
    run = store.create_run("p")
    seen: list[str] = []
    thread = threading.Thread(target=lambda: seen.append(store.get_run(run.id).id))
    thread.start()
    thread.join()
    assert seen == [run.id]


def test_unsupported_and_unreachable_databases() -> None:
    with pytest.raises(InvalidInput):
        SqlMetadataStore("mysql://nobody@127.0.0.1/x")
    with pytest.raises(InvalidInput):
        SqlMetadataStore("not a url")
    with pytest.raises(StoreUnavailable):
        SqlMetadataStore("postgresql+psycopg://nobody@127.0.0.1:1/none")


def test_a_batch_is_stored_as_one_packed_chunk_per_key(tmp_path: Path) -> None:
    import math

    from stackml.store.entities import MetricPoint

    store = SqlMetadataStore(f"sqlite:///{tmp_path / 'x.db'}")
    run = store.create_run("p")
    points = [MetricPoint(k, float(i), i, 1000 + i) for i in range(500) for k in ("a", "b")]
    points.append(MetricPoint("a", math.nan, 500, 2000))
    store.log_metrics(run.id, points)
    with store._db.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT key, count, first_step, last_step FROM metric_chunks ORDER BY key")
        ).all()
    assert [tuple(r) for r in rows] == [("a", 501, 0, 500), ("b", 500, 0, 499)]
    history = store.metric_history(run.id, "a")
    assert [p.step for p in history] == list(range(501))
    assert math.isnan(history[-1].value) and history[10].value == 10.0
    summary = store.metric_summaries(run.id)["a"]
    assert math.isnan(summary.latest) and summary.max == 499.0 and summary.count == 501
    store.close()


def test_fuzzed_filters_never_reach_sql_as_errors(tmp_path: Path) -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from stackml.store.entities import MetricPoint

    store = SqlMetadataStore(f"sqlite:///{tmp_path / 'fuzz.db'}")
    run = store.create_run("p", params={"lr": "0.1", "opt": "adam"}, tags={"t": "x"})
    store.log_metrics(run.id, [MetricPoint("acc", 0.5, 0, 0)])
    pieces = st.sampled_from(
        [
            "metrics.acc",
            "params.lr",
            "params.opt",
            "tags.t",
            "name",
            "end_time",
            "(",
            ")",
            "and",
            "or",
            "not in",
            "in",
            "like",
            "ilike",
            "=",
            "!=",
            "<",
            ">=",
            "'%'",
            "'x'",
            "1",
            "0.5",
            "('a', 'b')",
            "(1, 2)",
        ]
    )

    @settings(max_examples=150, deadline=None)
    @given(st.lists(pieces, min_size=1, max_size=9))
    def check(parts: list[str]) -> None:
        with contextlib.suppress(InvalidInput):
            store.search_runs(filter=" ".join(parts), order_by=["params.lr DESC"])

    check()
    store.close()


def test_waits_for_another_writer_instead_of_failing(tmp_path: Path) -> None:
    import sqlite3
    import threading

    path = tmp_path / "locked.db"
    store = SqlMetadataStore(f"sqlite:///{path}")
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another process holding the write lock
    release = threading.Timer(1.0, lambda: other.execute("COMMIT"))
    release.start()
    try:
        run = store.create_run("p")  # blocks until the other writer commits
        assert store.get_run(run.id).id == run.id
    finally:
        release.join()
        other.close()
        store.close()


def test_transient_errors_are_retried_then_translated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    from sqlalchemy import exc

    from stackml.store.sql import engine

    monkeypatch.setattr(engine, "_BACKOFF_START_S", 0.001)
    monkeypatch.setattr(engine, "_BACKOFF_CAP_S", 0.001)
    store = SqlMetadataStore(f"sqlite:///{tmp_path / 'x.db'}")
    locked = exc.OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked"))
    attempts: list[int] = []

    def flaky(conn: object) -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise locked
        return "done"

    assert store._db.transact(flaky, write=True, what="test") == "done"
    assert len(attempts) == 3

    def always_locked(conn: object) -> None:
        raise locked

    with pytest.raises(StoreUnavailable) as info:
        store._db.transact(always_locked, write=True, what="test")
    assert "database is locked" not in str(info.value)
    assert isinstance(info.value.__cause__, exc.OperationalError)
    store.close()


def test_search_pages_of_any_size_carry_their_details(tmp_path: Path) -> None:
    """Pages are read with fixed-size id lists (padded) up to 1,024 ids, expanding beyond."""
    from stackml.store.entities import MetricPoint

    store = SqlMetadataStore(f"sqlite:///{tmp_path / 'm.db'}")
    for i in range(1030):
        run = store.create_run("big", name=f"r{i:04d}", params={"i": str(i)}, tags={"t": str(i)})
        store.log_metrics(run.id, [MetricPoint("m", float(i), 0, 1)])
    for limit in (1, 7, 9, 33, 1024, 1025, 1030):
        page = store.search_runs(project="big", order_by=["name"], limit=limit)
        assert [r.name for r in page.runs] == [f"r{i:04d}" for i in range(limit)]
        for k, run in enumerate(page.runs):
            assert run.params == {"i": str(k)} and run.tags == {"t": str(k)}
            assert run.metric("m") == float(k)
    store.close()
