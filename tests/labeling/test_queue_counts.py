"""The queue's fast paths: progress counters kept in step with the rows, the partial index of
open tasks, migrating old databases to both, and background WAL checkpoints."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from stackml.store.sql import labeling_counts as counts
from stackml.store.sql import labeling_queue as queue
from stackml.store.sql import labeling_rows as rows
from stackml.store.sql.engine import Database
from stackml.store.sql.migrate import alembic_config
from stackml.store.sql.store import SqlMetadataStore
from tests.labeling.contract import box, boxes_config, image


def _agree(store: SqlMetadataStore, name: str) -> dict[str, int]:
    """The counters, checked against a recount of the rows."""

    def both(conn: object) -> tuple[dict[str, int], dict[str, int]]:
        kept = {k: n for k, n in counts.read(conn, name).items() if n}  # type: ignore[arg-type]
        return kept, rows.count_check(conn, name)  # type: ignore[arg-type]

    kept, recount = store._db.transact(both, write=False, what="count check")
    assert kept == recount
    return kept


def _workload(store: SqlMetadataStore) -> None:
    store.create_label_project("c", boxes_config(overlap=2))
    a, b, c, _ = store.add_label_tasks("c", [image(i, priority=4 - i) for i in range(4)])
    assert _agree(store, "c") == {"tasks:open": 4}
    assert [t.id for t in store.next_label_tasks("c", "ada", limit=2)] == [a, b]
    assert [t.id for t in store.next_label_tasks("c", "bob", lease_s=1.5)] == [a]
    assert _agree(store, "c") == {"tasks:open": 3, "tasks:leased": 1}
    store.skip_label_task(b, "ada", "blurry")
    store.next_label_tasks("c", "eve")  # eve takes b
    store.skip_label_task(b, "eve", "blurry too")  # b skipped twice: one skipped task
    assert _agree(store, "c")["skipped"] == 1
    time.sleep(1.6)  # bob's lease of a lapses; the next claim returns its slot
    store.next_label_tasks("c", "zed")
    _agree(store, "c")
    first = store.submit_annotation(a, "ada", box())
    store.submit_annotation(a, "zed", box("dog"))  # a is done
    late = store.submit_annotation(a, "bob", box())  # bob's lapsed lease: an extra label
    assert late.extra
    machine = store.submit_annotation(c, "model", box(), origin="machine", audit=True)
    state = _agree(store, "c")
    assert state["tasks:done"] == 1 and state["machine"] == 1 and state["user:ada"] == 1
    store.review_annotation(first.id, "rita", "reject", comment="loose")  # a reopens
    store.review_annotation(machine.id, "rita", "accept")
    (held,) = store.next_label_tasks("c", "yan")
    mine = store.submit_annotation(held.id, "yan", box())
    store.review_annotation(mine.id, "rita", "fix", value=box("dog"))
    final = _agree(store, "c")
    assert final["user:rita"] == 1 and final["annotations:fixed"] == 1
    progress = store.label_progress("c")
    assert progress.total == 4 and progress.skipped == 1 and progress.machine == 1
    assert progress.per_user == {"ada": 1, "bob": 1, "rita": 1, "yan": 1, "zed": 1}
    assert progress.rejected == 1 and progress.annotations == 6


def test_counters_follow_every_queue_change_sqlite(tmp_path: Path) -> None:
    with SqlMetadataStore(f"sqlite:///{tmp_path / 's.db'}") as store:
        _workload(store)


@pytest.mark.postgres
def test_counters_follow_every_queue_change_postgres(fresh_postgres_url: str) -> None:
    with SqlMetadataStore(fresh_postgres_url) as store:
        _workload(store)


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SqlMetadataStore]:
    with SqlMetadataStore(f"sqlite:///{tmp_path / 's.db'}") as store:
        yield store


def test_claim_reads_the_partial_index_in_queue_order(sqlite_store: SqlMetadataStore) -> None:
    sqlite_store.create_label_project("p", boxes_config())
    sqlite_store.add_label_tasks("p", [image(i, priority=i % 7) for i in range(300)])
    bound = queue._CANDIDATES.params(p="p", u="ada", who=["ada"], lim=1)

    def plan(conn: object) -> str:
        dialect = conn.dialect  # type: ignore[attr-defined]
        sql = bound.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
        args = ("p", "ada", "ada", "ada", "ada", 1, 0)  # project, who, three users, limit
        found = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", args).all()  # type: ignore[attr-defined]
        return " | ".join(str(r[-1]) for r in found)

    used = sqlite_store._db.transact(plan, write=False, what="plan")
    assert "ix_label_tasks_open" in used
    assert "TEMP B-TREE" not in used  # no sort: the index is already in queue order
    (first,) = sqlite_store.next_label_tasks("p", "ada")
    assert first.priority == 6


def test_progress_reads_counters_not_rows(sqlite_store: SqlMetadataStore) -> None:
    sqlite_store.create_label_project("p", boxes_config())
    (tid,) = sqlite_store.add_label_tasks("p", [image()])
    # A counter changed behind the store's back shows: progress does not count rows.
    sqlite_store._db.transact(
        lambda c: c.execute(text("UPDATE label_counts SET n = 7 WHERE key = 'tasks:open'")),
        write=True,
        what="tamper",
    )
    assert sqlite_store.label_progress("p").open == 7
    assert sqlite_store.get_label_task(tid).state == "open"


def test_migration_backfills_counters(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    db = Database(url)
    with db.engine.connect() as conn:
        command.upgrade(alembic_config(conn), "0010")
        conn.commit()
        conn.execute(
            text("INSERT INTO label_projects VALUES ('old', '', 'bboxes', :cfg, NULL, 'ada', 0)"),
            {"cfg": json.dumps(boxes_config().to_dict())},
        )
        for i, state in enumerate(["open", "open", "done", "leased"], start=1):
            conn.execute(
                text(
                    "INSERT INTO label_tasks (id, project, data, priority, queue_rank, source,"
                    " state, done_count, open_slots, created_at) VALUES"
                    " (:i, 'old', '{}', 0, 0, '', :s, 0, 1, 0)"
                ),
                {"i": i, "s": state},
            )
        for user, origin, status in [
            ("ada", "human", "accepted"),
            ("m", "machine", "audit"),
            ("ada", "human", "submitted"),
        ]:
            conn.execute(
                text(
                    'INSERT INTO label_annotations (task_id, project, "user", value, origin,'
                    " status, counted, extra, created_at, comment) VALUES"
                    " (3, 'old', :u, '{}', :o, :s, 1, 0, 0, '')"
                ),
                {"u": user, "o": origin, "s": status},
            )
        conn.execute(text("INSERT INTO label_skips VALUES (1, 'bob', 'old', 'r', 0)"))
        conn.execute(text("INSERT INTO label_skips VALUES (1, 'eve', 'old', 'r', 0)"))
        conn.commit()
    db.close()
    with SqlMetadataStore(url) as store:
        assert _agree(store, "old") == {
            "tasks:open": 2,
            "tasks:done": 1,
            "tasks:leased": 1,
            "annotations:accepted": 1,
            "annotations:audit": 1,
            "annotations:submitted": 1,
            "machine": 1,
            "user:ada": 2,
            "skipped": 1,
        }
        (task,) = store.next_label_tasks("old", "bob")
        assert task.id == 2  # bob skipped task 1; the migrated index serves the queue


def test_writes_are_checkpointed_in_the_background(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with SqlMetadataStore(f"sqlite:///{path}") as store:
        store.create_label_project("w", boxes_config())
        time.sleep(0.3)
        before = path.stat().st_size
        # Far fewer pages than SQLite's own checkpoint threshold (1000): without the
        # background checkpoint they would stay in the write-ahead log.
        store.add_label_tasks("w", [image(i) for i in range(2000)])
        deadline = time.monotonic() + 10
        while path.stat().st_size <= before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert path.stat().st_size > before
