"""Streamed BLAKE3 content hashing.

A blob's address is the lowercase hex BLAKE3 digest (64 characters) of its bytes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

import blake3

CHUNK_SIZE = 1 << 20  # 1 MiB: large enough to amortise syscalls, small enough to stream
_HASH_RE = re.compile(r"^[0-9a-f]{64}$")


def new_hasher() -> blake3.blake3:
    """A fresh incremental BLAKE3 hasher (multi-threaded for large inputs)."""
    return blake3.blake3(max_threads=blake3.blake3.AUTO)


def hash_bytes(data: bytes) -> str:
    """Hex digest of ``data``."""
    return blake3.blake3(data).hexdigest()


def hash_stream(stream: BinaryIO) -> str:
    """Hex digest of everything left in ``stream``, read in chunks."""
    hasher = new_hasher()
    for chunk in iter(lambda: stream.read(CHUNK_SIZE), b""):
        hasher.update(chunk)
    return hasher.hexdigest()


def hash_chunks(chunks: Iterable[bytes]) -> str:
    """Hex digest of the concatenation of ``chunks``."""
    hasher = new_hasher()
    for chunk in chunks:
        hasher.update(chunk)
    return hasher.hexdigest()


def hash_file(path: str | Path) -> str:
    """Hex digest of the file at ``path``."""
    with open(path, "rb") as fh:
        return hash_stream(fh)


def is_content_hash(value: str) -> bool:
    """Whether ``value`` looks like a blob address (64 lowercase hex characters)."""
    return bool(_HASH_RE.fullmatch(value))
