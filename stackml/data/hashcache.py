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

Besides one row per file, the cache keeps one *snapshot* per added folder, as git keeps its
index: the folder's file paths, their stamps and hashes packed together, with the epoch they
were stored under. Re-adding the same folder reads that snapshot instead of a row per file;
when the list of paths is the same, stamps are compared all at once and only files whose
stamp differs go through the per-file rows. When files were added or removed, the snapshot's
files are matched by path first. Snapshots keep the same rules: a racy file is recorded as
never matching, and the epoch decides whether blobs need a check. They are stored in parts,
so a re-add that changed a few files rewrites only the parts holding them.
"""

from __future__ import annotations

import functools
import itertools
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

import numpy as np

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
# A folder's snapshot (see :class:`Snapshot`): a small head row, its paths, and its stamps
# and hashes in parts of PART files, so a re-add that changed a few files rewrites only the
# parts holding them, not the whole folder's.
_HEADS = "folder_snapshots"
_PATHS = "folder_snapshot_paths"
_PARTS = "folder_snapshot_parts"
PART = 512
#: Bytes of a packed hash (BLAKE3 / SHA-256, 64 hex digits).
DIGEST_BYTES = 32
#: Columns of :attr:`Snapshot.stamps`: size, mtime_ns, inode.
STAMP_FIELDS = 3
_STAMP_BYTES = 8 * STAMP_FIELDS
# SQLite's smallest limit on parameters per statement (older builds): lookups are chunked.
_MAX_PARAMS = 900
_SCHEMA = (
    f"CREATE TABLE IF NOT EXISTS {_TABLE} (path TEXT PRIMARY KEY, size INTEGER, "
    "mtime_ns INTEGER, inode INTEGER, hash TEXT, epoch TEXT)",
    f"CREATE TABLE IF NOT EXISTS {_HEADS} (root TEXT PRIMARY KEY, token TEXT NOT NULL, "
    "epoch TEXT NOT NULL, count INTEGER NOT NULL)",
    f"CREATE TABLE IF NOT EXISTS {_PATHS} (root TEXT PRIMARY KEY, paths BLOB NOT NULL)",
    f"CREATE TABLE IF NOT EXISTS {_PARTS} (root TEXT NOT NULL, part INTEGER NOT NULL, "
    "stamps BLOB NOT NULL, digests BLOB NOT NULL, PRIMARY KEY (root, part))",
)


class Snapshot(NamedTuple):
    """What one add of a folder saw: every file's path, stamp and hash, in the scan's order.

    A file whose stamp was too recent to be trusted (see :data:`RACY_SECONDS`) is recorded
    with size ``-1``, which no file has, so it never matches.
    """

    token: str  # changes with every write of the snapshot
    paths: bytes  # absolute paths joined by NUL (see :func:`pack_paths`)
    stamps: np.ndarray  # int64, one row of (size, mtime_ns, inode) per file
    digests: bytes  # DIGEST_BYTES per file
    epoch: str

    def hashes(self, at: np.ndarray | None = None) -> list[str]:
        """Every file's hash as text, in order; or those of the files at indices ``at``."""
        packed = self.digests
        if at is not None:
            packed = np.frombuffer(packed, dtype=f"V{DIGEST_BYTES}")[at].tobytes()
        text = packed.hex()
        width = 2 * DIGEST_BYTES
        return [text[k : k + width] for k in range(0, len(text), width)]

    def index_of(self, paths: Iterable[str], count: int) -> np.ndarray:
        """For each of ``count`` absolute paths, its index in the snapshot, or -1."""
        listed = self.paths.decode("utf-8", "surrogateescape").split("\0")
        where = dict(zip(listed, range(len(listed)), strict=True))
        found = map(where.get, paths, itertools.repeat(-1))
        return np.fromiter(found, dtype=np.int64, count=count)


def pack_paths(paths: Iterable[str]) -> bytes:
    """Paths joined by NUL (which no path contains), as bytes: one compare tells two lists
    apart. Undecodable names round-trip through ``surrogateescape``."""
    return "\0".join(paths).encode("utf-8", "surrogateescape")


def pack_stamps(stamps: Iterable[int], count: int) -> np.ndarray | None:
    """``count`` stamps given flat (size, mtime_ns, inode, size, ...) as an ``(count, 3)``
    int64 array; ``None`` when a value does not fit (e.g. an inode above 2**63)."""
    try:
        flat = np.fromiter(stamps, dtype=np.int64, count=STAMP_FIELDS * count)
    except (OverflowError, ValueError):
        return None
    return flat.reshape(count, STAMP_FIELDS)


def _pack_digests(digests: list[str]) -> bytes | None:
    """The hashes as DIGEST_BYTES each, or ``None`` unless each is 64 lowercase hex digits
    (so that unpacking gives back exactly the same text)."""
    text = "".join(digests)
    if len(text) != 2 * DIGEST_BYTES * len(digests):
        return None
    try:
        packed = bytes.fromhex(text)
    except ValueError:
        return None
    if packed.hex() != text or set(map(len, digests)) != {2 * DIGEST_BYTES}:
        return None
    return packed


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
        key = (_root_key(root),)
        try:
            with self._lock:
                self._conn.execute("BEGIN")  # one consistent view of the three tables
                try:
                    head = self._conn.execute(
                        f"SELECT token, epoch, count FROM {_HEADS} WHERE root = ?", key
                    ).fetchone()
                    paths = self._conn.execute(
                        f"SELECT paths FROM {_PATHS} WHERE root = ?", key
                    ).fetchone()
                    parts = self._conn.execute(
                        f"SELECT part, stamps, digests FROM {_PARTS} WHERE root = ? ORDER BY part",
                        key,
                    ).fetchall()
                finally:
                    self._conn.rollback()
        except (sqlite3.Error, UnicodeEncodeError) as error:
            logger.debug("hash cache %s unreadable: %s", self.path, error)
            return None
        if head is None or paths is None:
            return None
        return _snapshot_of(head, paths[0], parts)

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
            paths: its files' absolute paths, packed by :func:`pack_paths`.
            stamps: their stamps when scanned (see :func:`pack_stamps`).
            digests: their hashes; every blob is stored durably.
            epoch: the store's epoch when those blobs were known to be stored (``""``: none).
            previous: the snapshot this add started from, if any: when it is still the
                stored one and lists the same paths, only the parts that differ are written.
            dirty: with ``previous``, the files whose hash may differ from its hash (every
                other hash is the one ``previous`` holds); ``None``: any file.
        """
        if self._conn is None or not digests or len(stamps) != len(digests):
            return
        if previous is not None and previous.paths != paths:
            previous = None
        if previous is None or dirty is None or len(dirty) > len(digests) // 8:
            packed = _pack_digests(digests)
        else:
            packed = _repack_digests(previous.digests, digests, dirty)
        if packed is None:
            return
        horizon = time.time_ns() - int(RACY_SECONDS * 1e9)
        table = stamps.astype("<i8", copy=True)
        table[table[:, 1] >= horizon, 0] = -1  # racy: recorded, never matched
        snap = Snapshot(uuid.uuid4().hex, paths, table, packed, epoch)
        changed = _changed_parts(previous, snap) if previous is not None else None
        if changed == [] and previous is not None and previous.epoch == epoch:
            return  # nothing new to record
        try:
            with self._lock, self._conn:
                patched = (
                    previous is not None
                    and changed is not None
                    and self._patch(root, previous, snap, changed)
                )
                if not patched:
                    self._replace(root, snap)
        except (sqlite3.Error, UnicodeEncodeError) as error:
            logger.debug("hash cache %s not updated: %s", self.path, error)

    def _patch(self, root: Path, previous: Snapshot, snap: Snapshot, changed: list[int]) -> bool:
        """Rewrite the ``changed`` parts of ``previous``, if it is still the stored snapshot."""
        assert self._conn is not None
        key = _root_key(root)
        moved = self._conn.execute(
            f"UPDATE {_HEADS} SET token = ?, epoch = ? WHERE root = ? AND token = ? AND count = ?",
            (snap.token, snap.epoch, key, previous.token, len(snap.digests) // DIGEST_BYTES),
        )
        if moved.rowcount != 1:
            return False
        self._conn.executemany(
            f"UPDATE {_PARTS} SET stamps = ?, digests = ? WHERE root = ? AND part = ?",
            [(*_part(snap, part), key, part) for part in changed],
        )
        return True

    def _replace(self, root: Path, snap: Snapshot) -> None:
        """Write ``snap`` whole, replacing whatever the folder had."""
        assert self._conn is not None
        key = _root_key(root)
        count = len(snap.digests) // DIGEST_BYTES
        self._conn.execute(f"DELETE FROM {_PARTS} WHERE root = ?", (key,))
        self._conn.execute(
            f"INSERT OR REPLACE INTO {_HEADS} VALUES (?, ?, ?, ?)",
            (key, snap.token, snap.epoch, count),
        )
        self._conn.execute(f"INSERT OR REPLACE INTO {_PATHS} VALUES (?, ?)", (key, snap.paths))
        self._conn.executemany(
            f"INSERT INTO {_PARTS} VALUES (?, ?, ?, ?)",
            [(key, part, *_part(snap, part)) for part in range(-(-count // PART))],
        )

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


def _root_key(root: Path) -> str:
    return str(root.absolute())


def _part(snap: Snapshot, part: int) -> tuple[bytes, bytes]:
    """The packed stamps and hashes of one part of ``snap``."""
    files = slice(part * PART, (part + 1) * PART)
    digests = snap.digests[files.start * DIGEST_BYTES : files.stop * DIGEST_BYTES]
    return snap.stamps[files].tobytes(), digests


def _repack_digests(base: bytes, digests: list[str], dirty: list[int]) -> bytes | None:
    """``base`` (packed hashes) with the hashes of the files ``dirty`` replaced."""
    packed = bytearray(base)
    for k in dirty:
        one = _pack_digests([digests[k]])
        if one is None:
            return None
        packed[k * DIGEST_BYTES : (k + 1) * DIGEST_BYTES] = one
    return bytes(packed)


def _changed_parts(previous: Snapshot, snap: Snapshot) -> list[int]:
    """The parts where two snapshots of the same paths differ."""
    width = (-1, DIGEST_BYTES // 8)  # a hash as four 64-bit words, compared at once
    old = np.frombuffer(previous.digests, dtype=np.uint64).reshape(width)
    new = np.frombuffer(snap.digests, dtype=np.uint64).reshape(width)
    differs = (old != new).any(axis=1) | (previous.stamps != snap.stamps).any(axis=1)
    return np.unique(np.flatnonzero(differs) // PART).tolist()


def _snapshot_of(
    head: tuple[object, ...], paths: object, parts: list[tuple[object, ...]]
) -> Snapshot | None:
    """A snapshot from its rows, or ``None`` if they do not fit together."""
    token, epoch, count = head
    if not (isinstance(token, str) and isinstance(epoch, str) and isinstance(count, int)):
        return None
    if count < 1 or not isinstance(paths, bytes) or paths.count(b"\0") != count - 1:
        return None
    if [row[0] for row in parts] != list(range(-(-count // PART))):
        return None
    stamps: list[bytes] = []
    digests: list[bytes] = []
    for k, (_, st, dg) in enumerate(parts):
        files = min(PART, count - k * PART)
        if not (isinstance(st, bytes) and isinstance(dg, bytes)):
            return None
        if len(st) != files * _STAMP_BYTES or len(dg) != files * DIGEST_BYTES:
            return None
        stamps.append(st)
        digests.append(dg)
    table = np.frombuffer(b"".join(stamps), dtype="<i8").reshape(count, STAMP_FIELDS)
    return Snapshot(token, paths, table, b"".join(digests), epoch)
