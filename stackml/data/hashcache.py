"""A local cache of file hashes keyed by ``(path, size, mtime_ns, inode)``.

Re-adding a folder re-hashes only files whose size, modification time or inode changed. The
cache is a hint, never trusted blindly: an entry is used only when all four match, entries
written while the file's mtime was within :data:`RACY_SECONDS` of the clock are not kept
(an edit in the same timestamp tick would go unseen, the "racy clean" problem git also
guards against), a blob the cache names must still exist in the store, and ``verify=True``
bypasses it entirely.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

RACY_SECONDS = 2.0
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileStamp:
    """What identifies a file's content cheaply."""

    size: int
    mtime_ns: int
    inode: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileStamp:
        return cls(st.st_size, st.st_mtime_ns, st.st_ino)


def default_cache_path() -> Path:
    """``$XDG_CACHE_HOME/stackml/hashes.db`` (or ``~/.cache/...``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "stackml" / "hashes.db"


class HashCache:
    """Path -> (stamp, hash), in a small SQLite file. Safe to share between threads.

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
            with conn:
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS hashes (path TEXT PRIMARY KEY, size INTEGER, "
                    "mtime_ns INTEGER, inode INTEGER, hash TEXT)"
                )
            self._conn = conn
        except (OSError, sqlite3.Error) as error:
            logger.debug("hash cache %s unavailable: %s", self.path, error)

    def lookup_under(self, root: Path) -> dict[str, tuple[FileStamp, str]]:
        """Every cached entry for files under ``root`` (one query, not one per file)."""
        prefix = str(root.absolute()).rstrip(os.sep) + os.sep
        if self._conn is None:
            return {}
        try:
            with self._lock:
                rows = self._conn.execute(
                    "SELECT path, size, mtime_ns, inode, hash FROM hashes "
                    "WHERE path >= ? AND path < ?",
                    (prefix, prefix[:-1] + chr(ord(os.sep) + 1)),
                ).fetchall()
        except sqlite3.Error as error:
            logger.debug("hash cache %s unreadable: %s", self.path, error)
            return {}
        return {p: (FileStamp(s, m, i), h) for p, s, m, i, h in rows}

    def store(self, entries: Iterable[tuple[str, FileStamp, str]]) -> None:
        """Remember hashes, skipping files modified too recently to be trusted later."""
        horizon = time.time_ns() - int(RACY_SECONDS * 1e9)
        rows = [
            (path, st.size, st.mtime_ns, st.inode, digest)
            for path, st, digest in entries
            if st.mtime_ns < horizon
        ]
        if not rows or self._conn is None:
            return
        try:
            with self._lock, self._conn:
                self._conn.executemany("INSERT OR REPLACE INTO hashes VALUES (?, ?, ?, ?, ?)", rows)
        except sqlite3.Error as error:
            logger.debug("hash cache %s not updated: %s", self.path, error)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
