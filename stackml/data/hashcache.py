"""A local cache of file hashes keyed by ``(path, size, mtime_ns, inode)``.

Re-adding a folder re-hashes only files whose size, modification time or inode changed. The
cache is a hint, never trusted blindly: an entry is used only when all four match, entries
written while the file's mtime was within :data:`RACY_SECONDS` of the clock are not kept
(an edit in the same timestamp tick would go unseen, the "racy clean" problem git also
guards against), a blob the cache names must still be in the store, and ``verify=True``
bypasses it entirely.

"Still in the store" is checked cheaply: each entry remembers the *epoch* of the store it
was stored in (see :func:`stackml.store.blobs.local.blob_epoch`), a token a local store
replaces before any blob leaves it (``gc``, ``fsck --quarantine``, a delete). An entry whose
epoch is the store's current one names a blob that was stored, durably, and has not been
removed through stackml since, so it needs no per-blob check; any other entry is checked
against the store first.

Besides one row per file, the cache keeps one *snapshot* per added folder, in the same
SQLite file under the same rules; how snapshots are packed and stored is
:mod:`stackml.data.snapshots`.
"""

from __future__ import annotations

import functools
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from stackml.data import snapshots

if TYPE_CHECKING:
    import numpy as np

    from stackml.data.snapshots import Snapshot

RACY_SECONDS = 2.0
logger = logging.getLogger(__name__)


class FileStamp(NamedTuple):
    """What identifies a file's content cheaply."""

    size: int
    mtime_ns: int
    inode: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileStamp:
        """The stamp of a ``stat`` result."""
        return cls(st.st_size, st.st_mtime_ns, st.st_ino)


class CachedHash(NamedTuple):
    """A cache entry: the file's stamp when hashed, its hash, and the store epoch it was
    stored under (``""`` when unknown)."""

    path: str
    size: int
    mtime_ns: int
    inode: int
    hash: str
    epoch: str


# Rows become entries without a Python-level constructor call each (there may be 100,000s).
_entry_of_row = functools.partial(tuple.__new__, CachedHash)


def default_cache_path() -> Path:
    """``$XDG_CACHE_HOME/stackml/hashes.db`` (or ``~/.cache/...``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "stackml" / "hashes.db"


# A table of its own (not the older ``hashes``): its rows carry the store epoch.
_TABLE = "file_hashes"
# SQLite's smallest limit on parameters per statement (older builds): lookups are chunked.
_MAX_PARAMS = 900
_SCHEMA = (
    f"CREATE TABLE IF NOT EXISTS {_TABLE} (path TEXT PRIMARY KEY, size INTEGER, "
    "mtime_ns INTEGER, inode INTEGER, hash TEXT, epoch TEXT)",
    *snapshots.SCHEMA,
)


class HashCache:
    """Path -> (stamp, hash, epoch), in a small SQLite file. Safe to share between threads.

    A cache that cannot be opened, read or written (a locked or damaged file, a read-only
    home) behaves as an empty one: files are then simply hashed, never skipped.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_cache_path()
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
            # A hint needs no fsync per update: WAL with synchronous=NORMAL stays consistent
            # through a crash and at worst forgets the last updates (those files are hashed
            # again). Entries are written only after their blobs were made durable.
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            with conn:
                for statement in _SCHEMA:
                    conn.execute(statement)
            self._conn = conn
        except (OSError, sqlite3.Error) as error:
            logger.debug("hash cache %s unavailable: %s", self.path, error)

    def lookup_under(self, root: Path) -> dict[str, CachedHash]:
        """Every cached entry for files under ``root`` (one query, not one per file)."""
        prefix = str(root.absolute()).rstrip(os.sep) + os.sep
        if self._conn is None:
            return {}
        try:
            with self._lock:
                rows = self._conn.execute(
                    f"SELECT path, size, mtime_ns, inode, hash, COALESCE(epoch, '') FROM {_TABLE} "
                    "WHERE path >= ? AND path < ?",
                    (prefix, prefix[:-1] + chr(ord(os.sep) + 1)),
                ).fetchall()
        except sqlite3.Error as error:
            logger.debug("hash cache %s unreadable: %s", self.path, error)
            return {}
        return {entry.path: entry for entry in map(_entry_of_row, rows)}

    def lookup(self, paths: list[str]) -> dict[str, CachedHash]:
        """The cached entries of these absolute paths (those that have one)."""
        if self._conn is None or not paths:
            return {}
        rows: list[tuple[str, int, int, int, str, str]] = []
        try:
            with self._lock:
                for start in range(0, len(paths), _MAX_PARAMS):
                    chunk = paths[start : start + _MAX_PARAMS]
                    rows += self._conn.execute(
                        f"SELECT path, size, mtime_ns, inode, hash, COALESCE(epoch, '') "
                        f"FROM {_TABLE} WHERE path IN ({','.join('?' * len(chunk))})",
                        chunk,
                    ).fetchall()
        except (sqlite3.Error, UnicodeEncodeError) as error:
            logger.debug("hash cache %s unreadable: %s", self.path, error)
            return {}
        return {entry.path: entry for entry in map(_entry_of_row, rows)}

    def snapshot(self, root: Path) -> Snapshot | None:
        """The last snapshot stored for the folder ``root``, if any (and if well-formed)."""
        if self._conn is None:
            return None
        try:
            with self._lock:
                return snapshots.read(self._conn, root)
        except (sqlite3.Error, UnicodeEncodeError) as error:
            logger.debug("hash cache %s unreadable: %s", self.path, error)
            return None

    def store_snapshot(
        self,
        root: Path,
        paths: bytes,
        stamps: np.ndarray,
        digests: list[str],
        *,
        epoch: str,
        previous: Snapshot | None = None,
        dirty: list[int] | None = None,
    ) -> None:
        """Record what an add of the folder ``root`` saw.

        Args:
            root: the folder that was added.
            paths: its files' absolute paths, packed by
                :func:`~stackml.data.snapshots.pack_paths`.
            stamps: their stamps when scanned (see :func:`~stackml.data.snapshots.pack_stamps`).
            digests: their hashes; every blob is stored durably.
            epoch: the store's epoch when those blobs were known to be stored (``""``: none).
            previous: the snapshot this add started from, if any: when it is still the
                stored one and lists the same paths, only the parts that differ are written.
            dirty: with ``previous``, the files whose hash may differ from its hash (every
                other hash is the one ``previous`` holds); ``None``: any file.
        """
        if self._conn is None or not digests or len(stamps) != len(digests):
            return
        update = snapshots.prepare(
            paths,
            stamps,
            digests,
            epoch=epoch,
            previous=previous,
            dirty=dirty,
            racy_seconds=RACY_SECONDS,
        )
        if update is None:
            return
        try:
            with self._lock, self._conn:
                snapshots.write(self._conn, root, update)
        except (sqlite3.Error, UnicodeEncodeError) as error:
            logger.debug("hash cache %s not updated: %s", self.path, error)

    def store(self, entries: Iterable[tuple[str, FileStamp, str]], *, epoch: str = "") -> None:
        """Remember hashes, skipping files modified too recently to be trusted later.

        Args:
            entries: ``(absolute path, stamp, hash)`` of files whose blobs are stored durably.
            epoch: the store's epoch when those blobs were known to be stored (``""``: none).
        """
        horizon = time.time_ns() - int(RACY_SECONDS * 1e9)
        rows = [
            (path, st.size, st.mtime_ns, st.inode, digest, epoch)
            for path, st, digest in entries
            if st.mtime_ns < horizon
        ]
        if not rows or self._conn is None:
            return
        try:
            with self._lock, self._conn:
                self._conn.executemany(
                    f"INSERT OR REPLACE INTO {_TABLE} VALUES (?, ?, ?, ?, ?, ?)", rows
                )
        except sqlite3.Error as error:
            logger.debug("hash cache %s not updated: %s", self.path, error)

    def close(self) -> None:
        """Close the database (the cache behaves as an empty one afterwards)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
