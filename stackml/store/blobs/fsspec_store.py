"""``FsspecBlobStore``: content-addressed blobs on any fsspec file system.

``s3://bucket/prefix``, ``gs://…``, ``memory://…``, ``file://…``: the layout is the one of
:mod:`stackml.store.blobs.local` under the URL's prefix: ``<prefix>/<h[:2]>/<h>``, with
``quarantine/`` and a ``layout`` marker beside it. Stores written before the flat layout keep
their nested keys (``<prefix>/<h[:2]>/<h[2:4]>/<h>``): a prefix without a marker is looked at
once, on first use, and the marker records what was found, so every client agrees.

Object stores have no rename, so a write first spools the stream to a local temp file while
hashing it; only once the digest is known is the file uploaded, straight to its final key. An
S3 PUT (or the completion of a multipart upload) is atomic, so a key only ever names complete
content, and an existing key is never uploaded again. On a local file system, where a copy is
not atomic, the upload goes to a temp name and is renamed into place.

S3 endpoints and credentials come from the usual places: ``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE`` (read by botocore), or the
storage options, e.g. ``FsspecBlobStore("s3://b/p", client_kwargs={"endpoint_url": …})``.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any, BinaryIO

import fsspec

from stackml._internal.hashing import is_content_hash
from stackml.errors import IntegrityError, NotFound, StackmlError, StoreUnavailable
from stackml.store.blobs._verified import spool, verified_reader
from stackml.store.blobs.base import BlobStore, check_digest
from stackml.store.blobs.local import blob_dirs, layout_depth

_TMP = "tmp"
_QUARANTINE = "quarantine"
_LAYOUT = "layout"
_DEPTH_OF = {"flat": 1, "nested": 2}


def _is_hex2(name: str) -> bool:
    return len(name) == 2 and all(c in "0123456789abcdef" for c in name)


def _base(path: str) -> str:
    return path.rstrip("/").rpartition("/")[2]


# Client libraries behind fsspec raise their own errors for unreachable endpoints (botocore's
# EndpointConnectionError is not an OSError); they are recognised by the module they come from.
_CLIENT_LIBRARIES = frozenset({"botocore", "aiobotocore", "aiohttp", "google", "azure"})


def _is_client_library_error(exc: BaseException) -> bool:
    return type(exc).__module__.split(".", 1)[0] in _CLIENT_LIBRARIES


class FsspecBlobStore(BlobStore):
    """Content-addressed blobs under an fsspec URL; thread- and process-safe.

    Args:
        url: Where the blobs live, e.g. ``s3://bucket/prefix``.
        **storage_options: Passed to the fsspec file system (credentials, ``client_kwargs``).
    """

    def __init__(self, url: str, **storage_options: Any) -> None:
        self.url = url
        fs, root = fsspec.core.url_to_fs(url, **storage_options)
        self.fs: fsspec.AbstractFileSystem = fs
        self.root: str = root.rstrip("/")
        protocols = (fs.protocol,) if isinstance(fs.protocol, str) else tuple(fs.protocol)
        # Only a local file system has links to refuse and a rename that is atomic.
        self._local = "file" in protocols or "local" in protocols
        if self._local:
            fs.makedirs(f"{self.root}/{_TMP}", exist_ok=True)
        # Folder levels above each blob (1 flat, 2 nested), read on first use: opening a
        # store must not need its endpoint to answer.
        self._depth: int | None = None
        self._depth_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"FsspecBlobStore({self.url!r})"

    @property
    def depth(self) -> int:
        """Folder levels above each blob: 1 (flat) or 2 (nested, older stores).

        Raises:
            StoreUnavailable: the file system could not be read.
            IntegrityError: the marker names an unknown layout.
        """
        if self._depth is None:
            with self._depth_lock, self._translate():
                if self._depth is None:
                    self._depth = (
                        layout_depth(self.root) if self._local else self._remote_layout_depth()
                    )
        return self._depth

    def _remote_layout_depth(self) -> int:
        marker = f"{self.root}/{_LAYOUT}"
        try:
            name = self.fs.cat_file(marker).decode("ascii", "replace").strip()
        except FileNotFoundError:
            name = "nested" if self._has_nested_blobs() else "flat"
            self.fs.pipe_file(marker, f"{name}\n".encode("ascii"))  # one PUT: atomic
            self.fs.invalidate_cache(marker)
        if name not in _DEPTH_OF:
            raise IntegrityError(
                f"{self.url}/{_LAYOUT}: unknown blob layout {name!r} (expected flat or nested)"
            )
        return _DEPTH_OF[name]

    def _has_nested_blobs(self) -> bool:
        """Whether the prefix holds blobs of the nested layout (``<aa>/<bb>/<hash>``)."""
        self.fs.invalidate_cache(self.root)
        try:
            firsts = self.fs.ls(self.root, detail=True)
        except FileNotFoundError:
            return False
        for first in firsts:
            if first["type"] != "directory" or not _is_hex2(_base(first["name"])):
                continue
            try:
                inside = self.fs.ls(first["name"], detail=True)
            except FileNotFoundError:
                continue
            if inside:  # every first-level folder of a layout holds one kind of entry
                return any(e["type"] == "directory" and _is_hex2(_base(e["name"])) for e in inside)
        return False

    def key_of(self, digest: str) -> str:
        """The object key (path within the file system) of the blob with ``digest``."""
        check_digest(digest)
        return "/".join((self.root, *blob_dirs(digest, self.depth), digest))

    @contextlib.contextmanager
    def _translate(self, digest: str | None = None) -> Iterator[None]:
        """Turn file-system errors into stackml errors at this boundary."""
        try:
            yield
        except StackmlError:
            raise  # already translated (StoreUnavailable is an OSError too)
        except FileNotFoundError as exc:
            raise NotFound(f"blob {digest} is not in {self.url}") from exc
        except Exception as exc:
            if not isinstance(exc, OSError) and not _is_client_library_error(exc):
                raise
            raise StoreUnavailable(
                f"blob store {self.url} failed: {exc}; check its URL, credentials and endpoint"
            ) from exc

    # -- writing ----------------------------------------------------------------------------
    def put_stream(self, stream: BinaryIO, *, expected_hash: str | None = None) -> str:
        """Store everything left in ``stream`` and return its hash.

        Raises:
            InvalidInput: ``expected_hash`` is not a blob hash.
            IntegrityError: the content does not hash to ``expected_hash``; nothing is kept.
            StoreUnavailable: the file system could not be written.
        """
        if expected_hash is not None:
            check_digest(expected_hash)
        fd, spool_path = tempfile.mkstemp(prefix="stackml-put-", suffix=".part")
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
            with self._translate(digest):
                self._upload(spool_path, digest)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(spool_path)
        return digest

    def _upload(self, spool_path: str, digest: str) -> None:
        key = self.key_of(digest)
        if self.exists(digest):
            return
        if not self._local:
            self.fs.put_file(spool_path, key)
            self.fs.invalidate_cache(key)
            return
        staged = f"{self.root}/{_TMP}/{digest}.{uuid.uuid4().hex}"
        try:
            self.fs.put_file(spool_path, staged)
            with open(staged, "rb") as copied:  # the copy must be durable before it is named
                os.fsync(copied.fileno())
            self.fs.makedirs(self.fs._parent(key), exist_ok=True)
            os.replace(staged, key)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(staged)

    # -- reading ----------------------------------------------------------------------------
    def _check_local_file(self, key: str, digest: str) -> None:
        """On a local file system, refuse links and anything resolving outside the root."""
        try:
            mode = os.lstat(key).st_mode
        except FileNotFoundError as exc:
            raise NotFound(f"blob {digest} is not in {self.url}") from exc
        real_root = os.path.realpath(self.root)
        if not stat.S_ISREG(mode) or os.path.realpath(key) != os.path.join(
            real_root, os.path.relpath(key, self.root)
        ):
            raise IntegrityError(
                f"blob {digest} in {self.url} is a link or not a regular file, refused; "
                "run `stackml fsck --quarantine`"
            )

    def open(self, digest: str) -> BinaryIO:
        """A reader over a blob that raises ``IntegrityError`` at EOF if it was altered.

        Raises:
            NotFound: no such blob.
            StoreUnavailable: the file system could not be read.
        """
        key = self.key_of(digest)
        if self._local:
            self._check_local_file(key, digest)
        with self._translate(digest):
            raw = self.fs.open(key, "rb")
        return verified_reader(raw, digest, source=self.url)

    def exists(self, digest: str) -> bool:
        """Whether a blob is stored (asks the file system, never a stale listing)."""
        key = self.key_of(digest)
        with self._translate(digest):
            self.fs.invalidate_cache(key)
            if self._local:
                with contextlib.suppress(FileNotFoundError):
                    return stat.S_ISREG(os.lstat(key).st_mode)
                return False
            return bool(self.fs.exists(key))

    def size(self, digest: str) -> int:
        """Size in bytes of a stored blob. Raises ``NotFound``."""
        key = self.key_of(digest)
        with self._translate(digest):
            self.fs.invalidate_cache(key)
            return int(self.fs.size(key))

    def modified_time(self, digest: str) -> float | None:
        """When the blob was stored, in seconds since the epoch; ``None`` if unknown."""
        key = self.key_of(digest)
        with self._translate(digest):
            self.fs.invalidate_cache(key)
            try:
                when = self.fs.modified(key)
            except NotImplementedError:
                return None
        if isinstance(when, datetime):
            return when.timestamp()
        return float(when) if when is not None else None

    def verify(self, digest: str) -> bool:
        """Re-hash a stored blob; ``False`` when its content does not match its address."""
        try:
            with self.open(digest) as fh:
                while fh.read(1 << 20):
                    pass
        except IntegrityError:
            return False
        return True

    # -- maintenance ------------------------------------------------------------------------
    def delete(self, digest: str) -> None:
        """Remove a blob if present."""
        key = self.key_of(digest)
        with self._translate(digest), contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(key)
        self.fs.invalidate_cache(key)

    def quarantine(self, digest: str) -> None:
        """Move a blob to ``<prefix>/quarantine/`` so it is no longer served."""
        key = self.key_of(digest)
        if not self._local and not self.exists(digest):
            raise NotFound(f"blob {digest} is not in {self.url}")
        dest = f"{self.root}/{_QUARANTINE}/{digest}.{uuid.uuid4().hex[:12]}"
        with self._translate(digest):
            if self._local:
                self.fs.makedirs(self.fs._parent(dest), exist_ok=True)
                os.replace(key, dest)
            else:
                self.fs.mv(key, dest)
        self.fs.invalidate_cache(key)

    def iter_digests(self) -> Iterator[str]:
        """Every blob in the layout (``tmp/`` and ``quarantine/`` are skipped)."""
        with self._translate():
            self.fs.invalidate_cache(self.root)
            try:
                paths = self.fs.find(self.root, withdirs=False)
            except FileNotFoundError:
                return
        prefix = f"{self.root}/"
        depth = self.depth
        for path in paths:
            if not path.startswith(prefix):
                continue
            *dirs, name = path[len(prefix) :].split("/")
            if is_content_hash(name) and tuple(dirs) == blob_dirs(name, depth):
                yield name
