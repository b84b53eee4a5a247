"""The fast path between a local folder and a local blob store (its own layout, see ``local``).

The generic :class:`~stackml.store.blobs.base.BlobStore` calls stream, hash and fsync one
blob at a time, which is right for a single artifact and slow for ten thousand dataset
files. When both ends are local, dataset adds and gets use this module instead; it keeps the
store's contract and layout:

* A file is hashed once: small files are read whole and the same bytes are hashed and
  written (so what is stored is exactly what was hashed); large files are hashed with every
  core over a memory map and copied by the kernel, and the source's size and mtime are
  checked again after the copy, so an edit during the add is refused, never stored under a
  stale hash.
* Content already stored is neither written nor copied (it is deduplicated before any
  write). A new small blob is written, where the platform allows, to an unnamed file
  (``O_TMPFILE``) in its own folder and then linked to its address in one step: it appears
  whole or not at all, and parallel writers neither queue on one ``tmp/`` folder nor take the
  file system's lock for renames across folders (on ext4 these two locks made a cold add of
  10,000 files spin on them). Elsewhere, and for large files, it is written to the store's
  ``tmp/`` and renamed into place.
* Durability is batched: instead of one fsync per blob, :meth:`LocalIngest.sync` flushes the
  store's file system once (or fsyncs each blob when only a few were written), and the caller
  commits the version row only after that. Until then a crash can leave a blob torn at its
  address; no row names it, and the next add that meets it finds its size wrong (a write cut
  short leaves a shorter or empty file) and writes it again. ``get`` and ``stackml fsck``
  re-hash what they read, so anything else is caught there.
* On the way out, every blob is verified against its hash before it is written to the
  destination.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import itertools
import os
import shutil
import stat
import threading
import uuid
from pathlib import Path

import blake3

from stackml.errors import IntegrityError, InvalidInput
from stackml.store.blobs.local import fsync_dir, layout_depth

#: Files up to this size are read whole; larger ones are memory-mapped and copied.
SMALL_FILE = 4 << 20
#: Up to this many blobs, :meth:`LocalIngest.sync` fsyncs each; beyond, it syncs the file system.
FSYNC_EACH = 32
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_TMPFILE = getattr(os, "O_TMPFILE", 0)
#: errno values that say "this file system or platform has no O_TMPFILE" (fall back for good).
_NO_TMPFILE = {errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOENT, errno.EXDEV}


def _hash_small(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


def _hash_large(path: str) -> str:
    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    hasher.update_mmap(path)
    return hasher.hexdigest()


def _read_exactly(source: str, size: int) -> bytes:
    """A small file's bytes, refusing one whose size changed since it was listed."""
    # os.open/os.read: a buffered file object costs more than reading 10 KiB.
    fd = os.open(source, os.O_RDONLY | _CLOEXEC)
    try:
        data = os.read(fd, size + 1)
        while len(data) <= size:  # a short read is legal; stop only at the end of the file
            more = os.read(fd, size + 1 - len(data))
            if not more:
                break
            data += more
    finally:
        os.close(fd)
    if len(data) != size:
        raise InvalidInput(f"{source}: changed while it was being added; add again")
    return data


class LocalIngest:
    """Writes and reads blobs of a local blob store directly (thread-safe)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._flat = layout_depth(self.root) == 1
        self._prefix = f"{self.root}{os.sep}"
        self._tmp = f"{self.root}{os.sep}tmp{os.sep}"
        self._run = uuid.uuid4().hex[:12]  # unique per ingest, so temp names never collide
        self._counter = itertools.count()
        self._made: set[str] = set()
        self._lock = threading.Lock()
        # Blobs this ingest wrote or found stored (list.append is atomic: no lock needed).
        self._touched: list[str] = []
        # ``/proc/self/fd`` opened once: linkat() through it names an O_TMPFILE file.
        self._proc_fd: int | None = None
        self._use_tmpfile = True
        if _TMPFILE and os.path.isdir("/proc/self/fd"):
            with contextlib.suppress(OSError):
                self._proc_fd = os.open("/proc/self/fd", os.O_RDONLY | os.O_DIRECTORY | _CLOEXEC)

    def close(self) -> None:
        """Release the descriptor kept for linking unnamed files (idempotent)."""
        fd, self._proc_fd = self._proc_fd, None
        if fd is not None:
            os.close(fd)

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    # Plain strings and os calls on the per-file path: pathlib costs more than the I/O of a
    # 10 KiB file.
    def _folder(self, digest: str) -> str:
        if self._flat:
            return f"{self._prefix}{digest[:2]}"
        return f"{self._prefix}{digest[:2]}{os.sep}{digest[2:4]}"

    def _final(self, digest: str) -> str:
        return f"{self._folder(digest)}{os.sep}{digest}"

    def path_of(self, digest: str) -> Path:
        return Path(self._final(digest))

    def _ensure_dir(self, digest: str) -> None:
        key = digest[:2] if self._flat else digest[:4]
        if key in self._made:
            return
        os.makedirs(self._folder(digest), exist_ok=True)
        with self._lock:
            self._made.add(key)

    def is_stored(self, digest: str, size: int) -> bool:
        """Whether a blob of ``size`` bytes is stored whole at ``digest``'s address."""
        try:
            st = os.lstat(self._final(digest))
        except FileNotFoundError:
            return False
        return stat.S_ISREG(st.st_mode) and st.st_size == size

    def _has(self, final: str, size: int) -> bool:
        """Whether the blob at ``final`` is stored whole, refreshing its age for gc.

        A blob of the wrong size can only be one torn by a crash before its write was synced
        (a complete blob's size is its content's): it is not counted, and the caller's
        rename replaces it.
        """
        try:
            os.utime(final, follow_symlinks=False)  # tells gc the blob is in use again
            st = os.lstat(final)
        except FileNotFoundError:
            return False
        return stat.S_ISREG(st.st_mode) and st.st_size == size

    def _temp(self) -> str:
        return f"{self._tmp}ingest-{self._run}-{next(self._counter)}.part"

    def _link_unnamed(self, data: bytes, digest: str, final: str) -> bool:
        """Write ``data`` to an unnamed file in its folder and link it at ``final``.

        Returns ``False`` when that cannot be done here (no ``O_TMPFILE`` on this file system,
        or a torn blob already at the address), so the caller writes it the portable way.
        """
        proc_fd = self._proc_fd
        if proc_fd is None or not self._use_tmpfile:
            return False
        self._ensure_dir(digest)
        try:
            fd = os.open(self._folder(digest), _TMPFILE | os.O_WRONLY | _CLOEXEC, 0o644)
        except OSError as error:
            if error.errno in _NO_TMPFILE:
                self._use_tmpfile = False  # not on this file system: stop trying
                return False
            raise
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            try:
                os.link(str(fd), final, src_dir_fd=proc_fd)
            except FileExistsError:
                # Stored meanwhile by another writer, or a torn blob left by a crash: the
                # rename path replaces the latter.
                return self._has(final, len(data))
            except OSError as error:
                if error.errno in _NO_TMPFILE:
                    self._use_tmpfile = False
                    return False
                raise
        finally:
            os.close(fd)
        return True

    def _store(self, data: bytes, digest: str) -> None:
        """Write ``data`` to its address unless it is already stored."""
        final = self._final(digest)
        if not self._has(final, len(data)) and not self._link_unnamed(data, digest, final):
            tmp = self._temp()
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _CLOEXEC, 0o644)
            try:
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view) :]
                finally:
                    os.close(fd)
                self._ensure_dir(digest)
                os.replace(tmp, final)
            except BaseException:  # a full disk: leave no temp file behind
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
        self._touched.append(final)

    def put_bytes(self, data: bytes) -> str:
        """Store bytes (a manifest); return their hash. Durable after :meth:`sync`."""
        if len(data) <= SMALL_FILE:
            digest = _hash_small(data)
        else:
            hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
            hasher.update(data)
            digest = hasher.hexdigest()
        self._store(data, digest)
        return digest

    def put_path(self, source: str, size: int, mtime_ns: int) -> str:
        """Store one file; return its hash. Raises ``InvalidInput`` naming the file.

        The blob is durable only after :meth:`sync`.
        """
        try:
            if size <= SMALL_FILE:
                data = _read_exactly(source, size)
                digest = _hash_small(data)
                self._store(data, digest)
                return digest
            digest = _hash_large(source)
            final = self._final(digest)
            if not self._has(final, size):
                tmp = self._temp()
                try:
                    shutil.copyfile(source, tmp)
                    st = os.stat(source)
                    if (st.st_size, st.st_mtime_ns) != (size, mtime_ns):
                        raise InvalidInput(f"{source}: changed while it was being added; add again")
                    self._ensure_dir(digest)
                    os.replace(tmp, final)
                finally:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(tmp)
            self._touched.append(final)
            return digest
        except PermissionError as error:
            raise InvalidInput(f"{source}: cannot read ({error.strerror})") from error
        except (FileNotFoundError, IsADirectoryError) as error:
            raise InvalidInput(f"{source}: vanished while adding") from error

    def sync(self) -> None:
        """Make every blob stored or found by this ingest durable, before any row names one.

        A few blobs are fsynced one by one with their folders; many are flushed with one
        ``syncfs`` of the store's file system, far cheaper than an fsync each.
        """
        touched, self._touched = self._touched, []
        if len(touched) > FSYNC_EACH:
            sync_store(self.root)
            return
        for final in touched:
            fd = os.open(final, os.O_RDONLY | _CLOEXEC)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        for folder in {os.path.dirname(final) for final in touched}:
            fsync_dir(folder)

    def get_to(self, digest: str, size: int, dest: Path, label: str) -> None:
        """Write a verified blob to ``dest``. Raises ``IntegrityError`` naming ``label``."""
        src = self.path_of(digest)
        try:
            if size <= SMALL_FILE:
                data = src.read_bytes()
                ok = _hash_small(data) == digest
                if ok:
                    dest.write_bytes(data)
            else:
                ok = _hash_large(str(src)) == digest
                if ok:
                    shutil.copyfile(src, dest)
        except FileNotFoundError as error:
            raise IntegrityError(
                f"{label}: its blob {digest[:12]} is missing from the store"
            ) from error
        if not ok:
            raise IntegrityError(
                f"{label}: its stored blob {digest[:12]} is corrupt; "
                "run `stackml fsck` to find damaged blobs"
            )


def sync_store(root: Path) -> None:
    """Make every blob written so far durable: one ``syncfs`` of the store's file system."""
    libc_syncfs = None
    with contextlib.suppress(OSError, AttributeError):
        libc_syncfs = ctypes.CDLL(None, use_errno=True).syncfs
    if libc_syncfs is None:
        os.sync()
        return
    fd = os.open(root, os.O_RDONLY)
    try:
        if libc_syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


def local_root(blobs: object) -> Path | None:
    """The folder of a local blob store, or ``None`` for any other store."""
    from stackml.store.blobs.local import LocalBlobStore

    if type(blobs) is LocalBlobStore:  # subclasses may change how blobs are written
        return blobs.root
    return None
