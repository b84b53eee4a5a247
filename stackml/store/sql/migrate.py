"""Apply the shipped Alembic migrations when a store is opened.

No ``alembic.ini`` is needed: the configuration is built here. Opening a store that is already
at the head revision costs one small query. Otherwise migrations run under a lock so that two
processes starting on the same fresh database at once do not race: a session-level
``pg_advisory_lock`` on PostgreSQL, an exclusive ``flock`` on a file next to the database on
SQLite. The second process then finds the schema at head and does nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, exc, text

from stackml.errors import StoreUnavailable
from stackml.store.sql.engine import Database, is_memory_sqlite

MIGRATIONS_DIR = Path(__file__).resolve().with_name("migrations")
# An arbitrary, fixed 64-bit key naming stackml's migration lock among advisory locks.
_PG_LOCK_KEY = 0x5_7AC4_4D1_0001


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration pointing at the shipped migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@lru_cache(maxsize=1)
def head_revision() -> str:
    """The newest migration shipped with this version of stackml."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(conn: Connection) -> str | None:
    """The revision a database is at, or ``None`` for an empty one."""
    return MigrationContext.configure(conn).get_current_revision()


@contextlib.contextmanager
def _sqlite_lock(db: Database) -> Iterator[None]:
    if is_memory_sqlite(db.url):
        yield
        return
    lock_path = Path(f"{db.url.database}.migrate-lock").expanduser()
    with open(lock_path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _upgrade_locked(db: Database) -> None:
    if db.dialect == "postgresql":
        with db.engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _PG_LOCK_KEY})
            conn.commit()
            try:
                if current_revision(conn) != head_revision():
                    conn.commit()
                    command.upgrade(alembic_config(conn), "head")
                conn.commit()
            finally:
                conn.rollback()
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _PG_LOCK_KEY})
                conn.commit()
        return
    with _sqlite_lock(db), db.engine.connect() as conn:
        if current_revision(conn) != head_revision():
            conn.commit()
            command.upgrade(alembic_config(conn), "head")
        conn.commit()


def upgrade(db: Database) -> None:
    """Bring the schema to the head revision (quickly returns when it already is)."""
    try:
        with db.engine.connect() as conn:
            if current_revision(conn) == head_revision():
                return
        _upgrade_locked(db)
    except exc.SQLAlchemyError as error:
        raise StoreUnavailable(
            f"could not prepare the metadata database {db.url.render_as_string()}: {error}"
        ) from error
