"""Streams shared by the blob stores: a reader that verifies as it goes, and a hashing spool.

Both stores hash bytes exactly once, while they move: on the way in (``spool``) the digest is
known by the time the temp file is complete, and on the way out (``VerifiedReader``) a mismatch
surfaces at end of file, before the caller can mistake a damaged blob for a whole one.
"""

from __future__ import annotations

import io
import os
from typing import BinaryIO

from stackml._internal.hashing import CHUNK_SIZE, new_hasher
from stackml.errors import IntegrityError


class VerifiedReader(io.RawIOBase):
    """A forward-only raw stream that hashes what it reads and checks the digest at EOF.

    Wrap it in :class:`io.BufferedReader` (see :func:`verified_reader`) to get the full
    binary-file API. Seeking is refused: a digest is only meaningful over every byte in order.
    """

    def __init__(self, raw: BinaryIO, digest: str, *, source: str) -> None:
        super().__init__()
        self._raw = raw
        self._digest = digest
        self._source = source
        self._hasher = new_hasher()
        self._verified = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        data = self._raw.read(len(view))
        if not data:
            self._check()
            return 0
        n = len(data)
        view[:n] = data
        self._hasher.update(data)
        return n

    def _check(self) -> None:
        if self._verified:
            return
        actual = self._hasher.hexdigest()
        if actual != self._digest:
            raise IntegrityError(
                f"blob {self._digest} at {self._source} is corrupt (its content hashes to "
                f"{actual}); run `stackml fsck --quarantine` and log the file again"
            )
        self._verified = True

    def close(self) -> None:
        if not self.closed:
            try:
                self._raw.close()
            finally:
                super().close()


def verified_reader(raw: BinaryIO, digest: str, *, source: str) -> BinaryIO:
    """A buffered, verifying reader over ``raw`` that owns (and closes) it."""
    return io.BufferedReader(VerifiedReader(raw, digest, source=source), CHUNK_SIZE)  # type: ignore[return-value]


def spool(stream: BinaryIO, fd: int) -> tuple[str, int]:
    """Copy everything left in ``stream`` into the open file ``fd``, fsync it, and return
    ``(digest, size)``. The caller owns ``fd`` and removes the file if this raises."""
    hasher = new_hasher()
    size = 0
    while True:
        chunk = stream.read(CHUNK_SIZE)
        if not chunk:
            break
        if not isinstance(chunk, bytes | bytearray | memoryview):
            raise TypeError(f"blob streams must yield bytes, got {type(chunk).__name__}")
        hasher.update(chunk)
        view = memoryview(chunk)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        size += len(chunk)
    os.fsync(fd)
    return hasher.hexdigest(), size
