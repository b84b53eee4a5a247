"""Engines, transactions and driver-error translation for the SQL metadata store.

SQLite runs in WAL mode with a 30 s busy timeout, ``synchronous=NORMAL`` and foreign keys on.
Write transactions start with ``BEGIN IMMEDIATE`` so the write lock is taken up front: a
deferred transaction that reads first and writes later can fail at once with "database is
locked" (the busy handler is not consulted when a read snapshot is stale), which the busy
timeout cannot cure. Whatever still comes back as busy/locked, and PostgreSQL serialization
failures and deadlocks, are retried with bounded exponential backoff. Nothing a driver raises
leaves this module untranslated: callers see :mod:`stackml.errors` types only.

A SQLite commit that finds the write-ahead log past ``wal_autocheckpoint`` pages copies it into
the database file and syncs it before returning, putting a disk sync into one request in a few
hundred. A background thread checkpoints shortly after writes instead (:class:`WalCheckpointer`),
so commits stay short; SQLite's own automatic checkpoint remains as the fallback.
"""

from __future__ import annotations

import contextlib
import logging
import random
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import StaticPool

from stackml.errors import Conflict, InvalidInput, StackmlError, StoreUnavailable

logger = logging.getLogger(__name__)

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 30_000
MAX_ATTEMPTS = 10
_BACKOFF_START_S = 0.02
_BACKOFF_CAP_S = 1.0
# PostgreSQL SQLSTATEs worth retrying: serialization_failure, deadlock_detected.
_PG_TRANSIENT = {"40001", "40P01"}
_WRITE_OPTION = "stackml_write"
# Pause between background checkpoints: bursts of commits share one checkpoint, and the log
# stays far below the 1000 pages at which a commit would checkpoint by itself.
_CHECKPOINT_PAUSE_S = 0.05


def normalize_url(url: str) -> URL:
    """Parse a database URL, defaulting PostgreSQL to the psycopg 3 driver."""
    try:
        parsed = make_url(url)
    except exc.ArgumentError as error:
        raise InvalidInput(f"not a database URL: {url!r}") from error
    if parsed.drivername in {"postgres", "postgresql"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def is_memory_sqlite(url: URL) -> bool:
    """True for ``sqlite://`` and ``sqlite:///:memory:`` URLs."""
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite would otherwise defer it).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        # LIKE is case-sensitive on PostgreSQL; make SQLite agree (ILIKE is the insensitive one).
        cursor.execute("PRAGMA case_sensitive_like = ON")
    finally:
        cursor.close()


def _on_sqlite_begin(conn: Connection) -> None:
    write = conn.get_execution_options().get(_WRITE_OPTION, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def create_store_engine(url: str) -> Engine:
    """Create an engine for a SQLite or PostgreSQL URL with stackml's connection settings."""
    parsed = normalize_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if is_memory_sqlite(parsed):
            # One shared connection, or each thread would see its own empty database.
            engine = create_engine(
                parsed, poolclass=StaticPool, connect_args={"check_same_thread": False}
            )
        else:
            Path(str(parsed.database)).expanduser().parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(
                parsed,
                connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
                pool_size=8,
                max_overflow=16,
            )
        event.listen(engine, "connect", _on_sqlite_connect)
        event.listen(engine, "begin", _on_sqlite_begin)
        return engine
    if backend == "postgresql":
        return create_engine(
            parsed,
            pool_pre_ping=True,
            pool_size=8,
            max_overflow=16,
            connect_args={"connect_timeout": 10},
        )
    raise InvalidInput(
        f"unsupported database {backend!r}: use sqlite:///path or postgresql+psycopg://..."
    )


def is_transient(error: exc.DBAPIError) -> bool:
    """Whether retrying the whole transaction may succeed."""
    if error.connection_invalidated:
        return True
    sqlstate = getattr(error.orig, "sqlstate", None)
    if sqlstate in _PG_TRANSIENT:
        return True
    message = str(error.orig).lower()
    return "database is locked" in message or "database is busy" in message


def translate(error: exc.SQLAlchemyError, what: str) -> StackmlError:
    """The stackml error for a driver or SQLAlchemy error (raise it ``from`` the original)."""
    if isinstance(error, exc.IntegrityError):
        return Conflict(f"{what} conflicts with stored data: {error.orig}")
    if isinstance(error, exc.DataError):
        return InvalidInput(f"{what}: a value does not fit its column: {error.orig}")
    if isinstance(error, exc.DBAPIError) and is_transient(error):
        return StoreUnavailable(
            f"{what}: the database stayed busy after {MAX_ATTEMPTS} attempts; another process "
            "holds a long transaction. Try again later."
        )
    return StoreUnavailable(f"{what}: the metadata database failed: {error}")


class WalCheckpointer:
    """Checkpoints a SQLite database's write-ahead log from a daemon thread after writes.

    :meth:`nudge` is cheap and thread-safe (it starts the thread on first use); a passive
    checkpoint never waits for or blocks readers and writers. :meth:`close` stops the thread.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._wake = threading.Event()
        self._start = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    def nudge(self) -> None:
        """Ask for a checkpoint soon (after a write committed)."""
        if self._thread is None:
            with self._start:
                if self._thread is None and not self._closed:
                    self._thread = threading.Thread(
                        target=self._run, name="stackml-wal-checkpoint", daemon=True
                    )
                    self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        # mode=rw: never create a database file that was removed meanwhile.
        uri = f"file:{urllib.parse.quote(self._path)}?mode=rw"
        try:
            conn = sqlite3.connect(uri, uri=True, timeout=1.0, isolation_level=None)
        except sqlite3.Error as error:
            logger.debug("background checkpoints are off: %s", error)
            return
        try:
            while True:
                self._wake.wait()
                if self._closed:
                    return
                self._wake.clear()
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as error:  # the commit-time checkpoint still applies
                    logger.debug("background checkpoint failed: %s", error)
                time.sleep(_CHECKPOINT_PAUSE_S)
        finally:
            conn.close()

    def close(self) -> None:
        """Stop the thread (a last checkpoint is left to SQLite's own close)."""
        self._closed = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


class Database:
    """An engine plus the one way to run work in it: :meth:`transact`.

    Thread-safe: the engine pools connections and each call takes its own, except reads
    inside a :meth:`reading` block, which share the block's.
    """

    def __init__(self, url: str) -> None:
        self.url = normalize_url(url)
        self.engine = create_store_engine(url)
        self.dialect = self.engine.dialect.name
        # An in-memory SQLite database is one shared connection: take turns using it.
        self._turns = threading.Lock() if is_memory_sqlite(self.url) else contextlib.nullcontext()
        file_sqlite = self.dialect == "sqlite" and not is_memory_sqlite(self.url)
        self._checkpointer = (
            WalCheckpointer(str(Path(str(self.url.database)).expanduser())) if file_sqlite else None
        )
        # The connection of the current reading() block (per thread and per asyncio task).
        self._snapshot: ContextVar[Connection | None] = ContextVar(
            f"stackml-snapshot-{id(self)}", default=None
        )
        self._shares_one_connection = is_memory_sqlite(self.url)

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """Run the read transactions started inside the block in one: the block's, which
        sees one snapshot of the database (SQLite's read transaction; ``REPEATABLE READ`` on
        PostgreSQL, whose default would let each statement see later commits).

        Nested blocks join the outer one; writes inside the block commit on their own. An
        in-memory SQLite database (one shared connection, used in turns) reads as usual,
        since a write inside the block would wait for the block's own turn.
        """
        if self._shares_one_connection or self._snapshot.get() is not None:
            yield
            return
        try:
            with self.engine.connect() as conn:
                if self.dialect == "postgresql":
                    conn.execution_options(isolation_level="REPEATABLE READ")
                with conn.begin():
                    token = self._snapshot.set(conn)
                    try:
                        yield
                    finally:
                        self._snapshot.reset(token)
        except exc.SQLAlchemyError as error:
            raise translate(error, "read") from error

    def transact(self, work: Callable[[Connection], T], *, write: bool, what: str) -> T:
        """Run ``work(conn)`` in one transaction, retrying transient failures.

        ``work`` must be safe to run again from the start (it runs in a fresh transaction
        each attempt). ``what`` names the operation in error messages.
        """
        if not write:
            shared = self._snapshot.get()
            if shared is not None:  # inside reading(): its transaction, no retries
                try:
                    return work(shared)
                except exc.SQLAlchemyError as error:
                    raise translate(error, what) from error
        delay = _BACKOFF_START_S
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                with self._turns, self.engine.connect() as conn:
                    if write:
                        conn.execution_options(**{_WRITE_OPTION: True})
                    with conn.begin():
                        result = work(conn)
                if write and self._checkpointer is not None:
                    self._checkpointer.nudge()
                return result
            except exc.DBAPIError as error:
                if attempt < MAX_ATTEMPTS and is_transient(error):
                    logger.debug("retrying %s after transient error: %s", what, error.orig)
                    time.sleep(delay * (1 + random.random()))
                    delay = min(delay * 2, _BACKOFF_CAP_S)
                    continue
                raise translate(error, what) from error
            except exc.SQLAlchemyError as error:
                raise translate(error, what) from error
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        """Close every pooled connection."""
        if self._checkpointer is not None:
            self._checkpointer.close()
        self.engine.dispose()


def dialect_insert(conn: Connection, table: Any) -> Any:
    """An ``INSERT`` that supports ``ON CONFLICT`` on the connection's dialect."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)
