"""The ``BlobStore`` interface: content-addressed bytes.

A blob's address is the BLAKE3 hex digest of its content (see :mod:`stackml._internal.hashing`).
Implementations live beside this module: ``local.py`` (a folder), ``fsspec_store.py`` (any
fsspec URL such as ``s3://bucket/prefix``) and ``rest.py`` (through ``stackml server``).

Contract:

* ``put_*`` hashes while streaming, writes atomically (temp name, fsync where the backend
  allows, rename) and stores identical content once. Return the digest.
* ``open``/``get_bytes`` verify the digest of what they read and raise
  :class:`stackml.errors.IntegrityError` on mismatch; ``NotFound`` when absent.
* Thread-safe; nothing is ever read or written outside the store's root.
"""

from __future__ import annotations

import abc
import io
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from stackml._internal.hashing import is_content_hash
from stackml.errors import InvalidInput


def check_digest(digest: str) -> str:
    """Refuse anything that is not a blob address, so it can't be used as a path."""
    if not isinstance(digest, str) or not is_content_hash(digest):
        raise InvalidInput(f"{digest!r} is not a blob hash (64 lowercase hex characters)")
    return digest


class BlobStore(abc.ABC):
    """Content-addressed, immutable, verified bytes."""

    #: Where the blobs live, for messages and ``stackml fsck`` reports.
    url: str

    @abc.abstractmethod
    def put_stream(self, stream: BinaryIO, *, expected_hash: str | None = None) -> str:
        """Store everything left in ``stream``; return its hash.

        If ``expected_hash`` is given and the content does not match, nothing is kept and
        ``IntegrityError`` is raised.
        """

    def put_file(self, path: str | Path) -> str:
        """Store a local file; return its hash."""
        with open(path, "rb") as fh:
            return self.put_stream(fh)

    def put_bytes(self, data: bytes) -> str:
        """Store bytes; return their hash."""
        return self.put_stream(io.BytesIO(data))

    @abc.abstractmethod
    def exists(self, digest: str) -> bool:
        """Whether a blob is stored."""

    @abc.abstractmethod
    def size(self, digest: str) -> int:
        """Size in bytes of a stored blob. Raises ``NotFound``."""

    @abc.abstractmethod
    def open(self, digest: str) -> BinaryIO:
        """A readable stream over a blob that raises ``IntegrityError`` at EOF on mismatch."""

    def get_bytes(self, digest: str) -> bytes:
        """The whole blob, verified."""
        with self.open(digest) as fh:
            return fh.read()

    def get_file(self, digest: str, dest: str | Path) -> Path:
        """Copy a verified blob to ``dest`` atomically and return the path."""
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.stackml-tmp")
        try:
            with self.open(digest) as src, open(tmp, "wb") as out:
                for chunk in iter(lambda: src.read(1 << 20), b""):
                    out.write(chunk)
        except BaseException:
            # A damaged or missing blob must leave nothing behind that looks like a download.
            tmp.unlink(missing_ok=True)
            raise
        tmp.replace(dest)
        return dest

    def modified_time(self, digest: str) -> float | None:
        """When a blob was last stored, in seconds since the epoch; ``None`` if unknown.

        ``stackml gc`` spares blobs younger than its grace period, and blobs of unknown age.
        Raises ``NotFound`` when the blob is absent (backends that know).
        """
        check_digest(digest)
        return None

    def clean_temp(self, older_than_seconds: float) -> int:
        """Remove partial writes abandoned longer ago than ``older_than_seconds`` (by writers
        that died mid-upload); return how many. Stores without temp files return 0."""
        return 0

    @abc.abstractmethod
    def delete(self, digest: str) -> None:
        """Remove a blob if present (used by gc)."""

    @abc.abstractmethod
    def iter_digests(self) -> Iterator[str]:
        """Every stored blob's hash (used by gc and fsck)."""

    @abc.abstractmethod
    def verify(self, digest: str) -> bool:
        """Re-hash a stored blob; ``True`` when the content matches its address."""

    @abc.abstractmethod
    def quarantine(self, digest: str) -> None:
        """Move a corrupt blob aside so that it is no longer served."""
