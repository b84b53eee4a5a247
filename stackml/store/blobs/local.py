"""``LocalBlobStore``: content-addressed blobs in a folder.

Layout under the root::

    <root>/<hash[:2]>/<hash>        one file per blob, never modified once written
    <root>/tmp/                     incoming writes, renamed into place when complete
    <root>/quarantine/              blobs that failed verification, kept for inspection
    <root>/layout                   ``flat`` (the above) or ``nested``
    <root>/epoch                    a random token, replaced before any blob is removed

Stores created before the flat layout keep blobs one level deeper
(``<root>/<hash[:2]>/<hash[2:4]>/<hash>``); :func:`layout_depth` recognises them and they keep
working unchanged (:func:`blob_dirs` names the folders for either). One folder level instead
of two halves the directory entries a first write of many small files creates, which is most
of the kernel time of a cold ``stackml data add``. :class:`FsspecBlobStore
<stackml.store.blobs.fsspec_store.FsspecBlobStore>` uses the same layouts under its prefix.

A write streams into a temp file while hashing, fsyncs it, renames it into place and fsyncs the
folder, so a blob path only ever names complete, durable content. Two writers of the same bytes
both succeed and leave one file. Reads walk the layout one component at a time with
``O_NOFOLLOW`` and accept only regular files, so a symlink planted inside the store can't make
it read anything outside the root.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from stackml._internal.hashing import is_content_hash
from stackml.errors import IntegrityError, NotFound
from stackml.store.blobs._verified import spool, verified_reader
from stackml.store.blobs.base import BlobStore, check_digest

_TMP = "tmp"
_QUARANTINE = "quarantine"
_LAYOUT = "layout"
_EPOCH = "epoch"
_DEPTH_OF = {"flat": 1, "nested": 2}
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_BINARY = getattr(os, "O_BINARY", 0)
# Without it, opening a FIFO planted at a blob path would block before fstat can refuse it.
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
# Walking with dir_fd lets every component be opened without following links; where the
# platform lacks it we fall back to comparing resolved paths.
_WALK_WITH_DIR_FD = os.open in os.supports_dir_fd and bool(_NOFOLLOW and _DIRECTORY)


def _is_hex2(name: str) -> bool:
    return len(name) == 2 and all(c in "0123456789abcdef" for c in name)


def _has_nested_blobs(root: Path) -> bool:
    """Whether ``root`` holds blob folders of the nested layout (``<aa>/<bb>/``)."""
    try:
        firsts = [e for e in _subdirs(root) if _is_hex2(e.name)]
    except FileNotFoundError:
        return False
    return any(_is_hex2(second.name) for first in firsts for second in _subdirs(Path(first.path)))


def layout_depth(root: str | os.PathLike[str]) -> int:
    """Folder levels between ``root`` and a blob: 1 (flat) or 2 (nested, older stores).

    Read from ``<root>/layout``; a store without that file is inspected once and the answer
    written there, so every process agrees on it.
    """
    root = Path(root)
    marker = root / _LAYOUT
    try:
        name = marker.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        name = "nested" if _has_nested_blobs(root) else "flat"
        root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=root, prefix=".layout-")
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(name + "\n")
        os.replace(tmp, marker)
    if name not in _DEPTH_OF:
        raise IntegrityError(f"{marker}: unknown blob layout {name!r} (expected flat or nested)")
    return _DEPTH_OF[name]


def blob_dirs(digest: str, depth: int) -> tuple[str, ...]:
    """The folder names between the root and a blob for a layout ``depth``."""
    return (digest[:2],) if depth == 1 else (digest[:2], digest[2:4])


def blob_epoch(root: str | os.PathLike[str]) -> str:
    """A token that changes whenever a blob may have left the store at ``root``.

    :meth:`LocalBlobStore.delete` and :meth:`LocalBlobStore.quarantine` (so ``gc`` and
    ``fsck --quarantine``) replace it with a fresh random one *before* removing anything. A
    client that saw a blob stored under epoch ``E`` may therefore skip checking for it again
    while the epoch is still ``E``; the dataset hash cache does exactly that. A store without
    the file gets one here.
    """
    marker = Path(root) / _EPOCH
    try:
        token = marker.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        token = ""
    return token or _new_epoch(Path(root))


def _new_epoch(root: Path) -> str:
    """Replace ``<root>/epoch`` with a fresh random token and return it."""
    token = uuid.uuid4().hex
    fd, tmp = tempfile.mkstemp(dir=root, prefix=".epoch-")
    try:
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(token + "\n")
        # No fsync: the rename and the unlink that follows it are both metadata, which
        # journaling file systems commit in order, so a crash cannot keep the removal and
        # lose the new token.
        os.replace(tmp, root / _EPOCH)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return token


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Make a rename durable; some platforms can't open folders, which is fine there."""
    try:
        fd = os.open(path, os.O_RDONLY | _DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class LocalBlobStore(BlobStore):
    """Content-addressed blobs under a local folder; thread- and process-safe.

    Args:
        root: The folder; created (with ``tmp/`` and ``quarantine/``) if missing.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().absolute()
        self.url = str(self.root)
        (self.root / _TMP).mkdir(parents=True, exist_ok=True)
        (self.root / _QUARANTINE).mkdir(exist_ok=True)
        #: Folder levels above each blob: 1 (flat) or 2 (nested, older stores).
        self.depth = layout_depth(self.root)

    def __repr__(self) -> str:
        return f"LocalBlobStore({self.url!r})"

    def path_of(self, digest: str) -> Path:
        """Where the blob with ``digest`` lives (whether or not it is stored)."""
        check_digest(digest)
        return self.root.joinpath(*blob_dirs(digest, self.depth), digest)

    # -- writing ----------------------------------------------------------------------------
    def put_stream(self, stream: BinaryIO, *, expected_hash: str | None = None) -> str:
        """Store everything left in ``stream`` and return its hash.

        Raises:
            InvalidInput: ``expected_hash`` is not a blob hash.
            IntegrityError: the content does not hash to ``expected_hash``; nothing is kept.
        """
        if expected_hash is not None:
            check_digest(expected_hash)
        fd, tmp_name = tempfile.mkstemp(dir=self.root / _TMP, prefix="put-", suffix=".part")
        tmp = Path(tmp_name)
        try:
            try:
                digest, _ = spool(stream, fd)
            finally:
                os.close(fd)
            if expected_hash is not None and digest != expected_hash:
                raise IntegrityError(
                    f"uploaded content hashes to {digest}, not the expected {expected_hash}; "
                    "the transfer was damaged, send it again"
                )
            self._commit(tmp, digest)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return digest

    def _commit(self, tmp: Path, digest: str) -> None:
        final = self.path_of(digest)
        try:
            st = final.lstat()
        except FileNotFoundError:
            st = None
        if st is not None and stat.S_ISREG(st.st_mode):
            # Already stored: keep the existing file. Refreshing its mtime tells gc that it is
            # in use again, so a run that re-logs old content is covered by the grace period.
            try:
                os.utime(final, follow_symlinks=False)
            except FileNotFoundError:
                pass  # gc removed it a moment ago: store ours below
            else:
                tmp.unlink()
                return
        # Absent, or something that isn't a regular file (a planted link): rename over it.
        # os.replace swaps the directory entry itself, never a link's target.
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, final)
        fsync_dir(final.parent)

    # -- reading ----------------------------------------------------------------------------
    def _open_fd(self, digest: str) -> int:
        """An fd on the blob's regular file, refusing links at every level below the root."""
        path = self.path_of(digest)
        flags = os.O_RDONLY | _NOFOLLOW | _CLOEXEC | _BINARY | _NONBLOCK
        try:
            if _WALK_WITH_DIR_FD:
                fd = self._open_walk(digest, flags)
            else:
                if os.path.realpath(path) != str(
                    Path(os.path.realpath(self.root)) / path.relative_to(self.root)
                ):
                    raise IntegrityError(f"blob {digest} in {self.url} resolves outside the store")
                fd = os.open(path, flags)
        except FileNotFoundError as exc:
            raise NotFound(f"blob {digest} is not in {self.url}") from exc
        except NotADirectoryError as exc:
            raise IntegrityError(
                f"blob {digest} in {self.url}: a folder on its path was replaced"
            ) from exc
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.EMLINK):
                raise IntegrityError(
                    f"blob {digest} in {self.url} is a symbolic link, refused; "
                    "run `stackml fsck --quarantine`"
                ) from exc
            raise
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise IntegrityError(f"blob {digest} in {self.url} is not a regular file, refused")
        return fd

    def _open_walk(self, digest: str, flags: int) -> int:
        dir_flags = os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC
        opened = [os.open(self.root, os.O_RDONLY | _DIRECTORY | _CLOEXEC)]
        try:
            for name in blob_dirs(digest, self.depth):
                opened.append(os.open(name, dir_flags, dir_fd=opened[-1]))
            return os.open(digest, flags, dir_fd=opened[-1])
        finally:
            for fd in reversed(opened):
                os.close(fd)

    def open(self, digest: str) -> BinaryIO:
        """A reader over a blob that raises ``IntegrityError`` at EOF if it was altered.

        Raises:
            NotFound: no such blob.
            IntegrityError: the blob path is a link or not a regular file.
        """
        fd = self._open_fd(digest)
        return verified_reader(os.fdopen(fd, "rb", buffering=0), digest, source=self.url)

    def exists(self, digest: str) -> bool:
        """Whether a blob is stored as a regular file."""
        try:
            return stat.S_ISREG(self.path_of(digest).lstat().st_mode)
        except FileNotFoundError:
            return False

    def size(self, digest: str) -> int:
        """Size in bytes of a stored blob. Raises ``NotFound``."""
        fd = self._open_fd(digest)
        try:
            return os.fstat(fd).st_size
        finally:
            os.close(fd)

    def modified_time(self, digest: str) -> float | None:
        """When the blob was last written or re-stored, in seconds since the epoch."""
        try:
            return self.path_of(digest).lstat().st_mtime
        except FileNotFoundError as exc:
            raise NotFound(f"blob {digest} is not in {self.url}") from exc

    def verify(self, digest: str) -> bool:
        """Re-hash a stored blob; ``False`` when damaged or not a regular file."""
        try:
            with self.open(digest) as fh:
                while fh.read(1 << 20):
                    pass
        except IntegrityError:
            return False
        return True

    # -- maintenance ------------------------------------------------------------------------
    def delete(self, digest: str) -> None:
        """Remove a blob if present. Empty folders stay: a concurrent write may need them."""
        path = self.path_of(digest)
        _new_epoch(self.root)  # before the removal: see blob_epoch
        with contextlib.suppress(FileNotFoundError):
            path.unlink()

    def quarantine(self, digest: str) -> None:
        """Move a blob to ``<root>/quarantine/`` so it is no longer served. Raises ``NotFound``."""
        src = self.path_of(digest)
        dest = self.root / _QUARANTINE / f"{digest}.{time.time_ns()}"
        _new_epoch(self.root)  # before the removal: see blob_epoch
        try:
            os.replace(src, dest)
        except FileNotFoundError as exc:
            raise NotFound(f"blob {digest} is not in {self.url}") from exc
        fsync_dir(src.parent)

    def iter_digests(self) -> Iterator[str]:
        """Every blob in the layout, links included so that fsck can flag them."""
        for first in _subdirs(self.root):
            if not _is_hex2(first.name):
                continue  # tmp/, quarantine/ and anything foreign
            if self.depth == 1:
                yield from _blobs_in(first.path, first.name)
                continue
            for second in _subdirs(Path(first.path)):
                if _is_hex2(second.name):
                    yield from _blobs_in(second.path, first.name + second.name)

    def clean_temp(self, older_than_seconds: float) -> int:
        """Remove temp files left by writers that died; return how many were removed."""
        cutoff = time.time() - older_than_seconds
        removed = 0
        with os.scandir(self.root / _TMP) as entries:
            for entry in entries:
                try:
                    if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                        os.unlink(entry.path)
                        removed += 1
                except FileNotFoundError:
                    continue
        return removed


def _blobs_in(folder: str, prefix: str) -> Iterator[str]:
    """Blob names in one leaf folder whose hash starts with ``prefix`` (links included)."""
    with os.scandir(folder) as entries:
        for entry in entries:
            name = entry.name
            if (
                is_content_hash(name)
                and name.startswith(prefix)
                and (entry.is_file(follow_symlinks=False) or entry.is_symlink())
            ):
                yield name


def _subdirs(path: Path) -> list[os.DirEntry[str]]:
    # Links to folders are skipped: the walk must not leave the root.
    with os.scandir(path) as entries:
        return [e for e in entries if e.is_dir(follow_symlinks=False)]
