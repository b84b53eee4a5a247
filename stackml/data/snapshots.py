"""Per-folder snapshots of the hash cache: what one add of a folder saw, stored packed.

Besides one row per file, the hash cache (:class:`~stackml.data.hashcache.HashCache`) keeps
one *snapshot* per added folder, as git keeps its index: the folder's file paths, their
stamps and hashes packed together, with the epoch they were stored under. Re-adding the same
folder reads that snapshot instead of a row per file; when the list of paths is the same,
stamps are compared all at once and only files whose stamp differs go through the per-file
rows. When files were added or removed, the snapshot's files are matched by path first.
Snapshots keep the same rules as the per-file rows: a racy file is recorded as never
matching, and the epoch decides whether blobs need a check. They are stored in parts, so a
re-add that changed a few files rewrites only the parts holding them.

This module owns the snapshot tables; the hash cache owns the connection, its lock and the
handling of database errors, and calls :func:`read` and :func:`write` under its lock.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

if TYPE_CHECKING:
    import sqlite3

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
#: The statements that create the snapshot tables (each idempotent).
SCHEMA = (
    f"CREATE TABLE IF NOT EXISTS {_HEADS} (root TEXT PRIMARY KEY, token TEXT NOT NULL, "
    "epoch TEXT NOT NULL, count INTEGER NOT NULL)",
    f"CREATE TABLE IF NOT EXISTS {_PATHS} (root TEXT PRIMARY KEY, paths BLOB NOT NULL)",
    f"CREATE TABLE IF NOT EXISTS {_PARTS} (root TEXT NOT NULL, part INTEGER NOT NULL, "
    "stamps BLOB NOT NULL, digests BLOB NOT NULL, PRIMARY KEY (root, part))",
)


class Snapshot(NamedTuple):
    """What one add of a folder saw: every file's path, stamp and hash, in the scan's order.

    A file whose stamp was too recent to be trusted (see
    :data:`~stackml.data.hashcache.RACY_SECONDS`) is recorded with size ``-1``, which no file
    has, so it never matches.
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


class Update(NamedTuple):
    """A snapshot to write, and what it may be written over (see :func:`prepare`)."""

    snap: Snapshot
    previous: Snapshot | None  # the snapshot it started from, listing the same paths
    changed: list[int] | None  # the parts that differ from ``previous`` (None: all)


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


def prepare(
    paths: bytes,
    stamps: np.ndarray,
    digests: list[str],
    *,
    epoch: str,
    previous: Snapshot | None,
    dirty: list[int] | None,
    racy_seconds: float,
) -> Update | None:
    """The snapshot of what an add saw, or ``None`` when there is nothing to write.

    Arguments are those of :meth:`~stackml.data.hashcache.HashCache.store_snapshot`; a file
    modified within ``racy_seconds`` of now is recorded as never matching. ``None`` also when
    a hash is not 64 lowercase hex digits (such a snapshot could not give it back).
    """
    if previous is not None and previous.paths != paths:
        previous = None
    if previous is None or dirty is None or len(dirty) > len(digests) // 8:
        packed = _pack_digests(digests)
    else:
        packed = _repack_digests(previous.digests, digests, dirty)
    if packed is None:
        return None
    horizon = time.time_ns() - int(racy_seconds * 1e9)
    table = stamps.astype("<i8", copy=True)
    table[table[:, 1] >= horizon, 0] = -1  # racy: recorded, never matched
    snap = Snapshot(uuid.uuid4().hex, paths, table, packed, epoch)
    changed = _changed_parts(previous, snap) if previous is not None else None
    if changed == [] and previous is not None and previous.epoch == epoch:
        return None  # nothing new to record
    return Update(snap, previous, changed)


def read(conn: sqlite3.Connection, root: Path) -> Snapshot | None:
    """The snapshot stored for the folder ``root``, if any (and if well-formed).

    The caller holds the connection's lock; database errors propagate.
    """
    key = (_root_key(root),)
    conn.execute("BEGIN")  # one consistent view of the three tables
    try:
        head = conn.execute(
            f"SELECT token, epoch, count FROM {_HEADS} WHERE root = ?", key
        ).fetchone()
        paths = conn.execute(f"SELECT paths FROM {_PATHS} WHERE root = ?", key).fetchone()
        parts = conn.execute(
            f"SELECT part, stamps, digests FROM {_PARTS} WHERE root = ? ORDER BY part",
            key,
        ).fetchall()
    finally:
        conn.rollback()
    if head is None or paths is None:
        return None
    return _snapshot_of(head, paths[0], parts)


def write(conn: sqlite3.Connection, root: Path, update: Update) -> None:
    """Store ``update`` for the folder ``root``: only its changed parts when its previous
    snapshot is still the stored one, else whole.

    The caller holds the connection's lock inside a transaction; database errors propagate.
    """
    snap, previous, changed = update
    patched = (
        previous is not None and changed is not None and _patch(conn, root, previous, snap, changed)
    )
    if not patched:
        _replace(conn, root, snap)


def _patch(
    conn: sqlite3.Connection, root: Path, previous: Snapshot, snap: Snapshot, changed: list[int]
) -> bool:
    """Rewrite the ``changed`` parts of ``previous``, if it is still the stored snapshot."""
    key = _root_key(root)
    moved = conn.execute(
        f"UPDATE {_HEADS} SET token = ?, epoch = ? WHERE root = ? AND token = ? AND count = ?",
        (snap.token, snap.epoch, key, previous.token, len(snap.digests) // DIGEST_BYTES),
    )
    if moved.rowcount != 1:
        return False
    conn.executemany(
        f"UPDATE {_PARTS} SET stamps = ?, digests = ? WHERE root = ? AND part = ?",
        [(*_part(snap, part), key, part) for part in changed],
    )
    return True


def _replace(conn: sqlite3.Connection, root: Path, snap: Snapshot) -> None:
    """Write ``snap`` whole, replacing whatever the folder had."""
    key = _root_key(root)
    count = len(snap.digests) // DIGEST_BYTES
    conn.execute(f"DELETE FROM {_PARTS} WHERE root = ?", (key,))
    conn.execute(
        f"INSERT OR REPLACE INTO {_HEADS} VALUES (?, ?, ?, ?)",
        (key, snap.token, snap.epoch, count),
    )
    conn.execute(f"INSERT OR REPLACE INTO {_PATHS} VALUES (?, ?)", (key, snap.paths))
    conn.executemany(
        f"INSERT INTO {_PARTS} VALUES (?, ?, ?, ?)",
        [(key, part, *_part(snap, part)) for part in range(-(-count // PART))],
    )


def _root_key(root: Path) -> str:
    return str(root.absolute())


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
