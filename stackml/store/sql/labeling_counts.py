"""Progress counters of label projects, kept in step with the rows they count.

Every function that changes a task's state, adds an annotation, changes an annotation's
status or records a skip adds its changes to a :class:`Deltas` and applies them in the same
transaction with one batched upsert, so :func:`read` answers from a handful of rows instead
of counting 100,000 tasks per request (the annotator page asks for progress after every task).

Keys: ``tasks:<state>``, ``annotations:<status>``, ``machine`` (machine-made annotations),
``skipped`` (tasks skipped at least once) and ``user:<name>`` (a user's non-machine
annotations). On PostgreSQL each writer adds to one of :data:`SHARDS` rows per key, picked by
user, so that concurrent annotators do not wait on one counter row.
"""

from __future__ import annotations

import zlib
from collections import Counter
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, func, select

from stackml.store.sql import models_labeling as m
from stackml.store.sql.engine import dialect_insert

COUNTS: Table = cast(Table, m.LabelCountRow.__table__)
SHARDS = 8


class Deltas(Counter[str]):
    """Changes to a project's counters, applied by :func:`apply`."""

    def moved(self, old_state: str, new_state: str) -> None:
        """A task went from ``old_state`` to ``new_state``."""
        if old_state != new_state:
            self["tasks:" + old_state] -= 1
            self["tasks:" + new_state] += 1

    def annotated(self, user: str, status: str, origin: str) -> None:
        """An annotation was added."""
        self["annotations:" + status] += 1
        self["machine" if origin == "machine" else "user:" + user] += 1

    def restated(self, old_status: str, new_status: str) -> None:
        """An annotation's review status changed."""
        if old_status != new_status:
            self["annotations:" + old_status] -= 1
            self["annotations:" + new_status] += 1


_UPSERT_CACHE: dict[str, Any] = {}


def _upsert(conn: Connection) -> Any:
    dialect = conn.dialect.name
    stmt = _UPSERT_CACHE.get(dialect)
    if stmt is None:
        insert = dialect_insert(conn, COUNTS).values(
            project=bindparam("p"), key=bindparam("k"), shard=bindparam("s"), n=bindparam("n")
        )
        stmt = insert.on_conflict_do_update(
            index_elements=["project", "key", "shard"],
            set_={"n": COUNTS.c.n + insert.excluded.n},
        )
        _UPSERT_CACHE[dialect] = stmt
    return stmt


def shard_of(conn: Connection, user: str) -> int:
    """The counter shard a user writes to (always 0 on SQLite, which has one writer)."""
    if conn.dialect.name == "sqlite":
        return 0
    return zlib.crc32(user.encode()) % SHARDS


def apply(conn: Connection, project: str, deltas: Counter[str], user: str = "") -> None:
    """Add ``deltas`` to ``project``'s counters (one statement, nothing when all are zero)."""
    shard = shard_of(conn, user)
    params = [{"p": project, "k": k, "s": shard, "n": n} for k, n in deltas.items() if n]
    if params:
        conn.execute(_upsert(conn), params)


_READ = (
    select(COUNTS.c.key, func.sum(COUNTS.c.n))
    .where(COUNTS.c.project == bindparam("p"))
    .group_by(COUNTS.c.key)
)


def read(conn: Connection, project: str) -> dict[str, int]:
    """Every counter of ``project`` summed over shards (missing keys are zero)."""
    return {str(k): int(n) for k, n in conn.execute(_READ, {"p": project}).all()}
