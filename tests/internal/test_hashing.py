"""Streamed BLAKE3 content hashing."""

from __future__ import annotations

import io
import itertools
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stackml._internal.hashing import (
    CHUNK_SIZE,
    hash_bytes,
    hash_chunks,
    hash_file,
    hash_stream,
    is_content_hash,
    new_hasher,
)

# Published BLAKE3 digest of the empty input.
EMPTY = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"


def test_known_vector() -> None:
    assert hash_bytes(b"") == EMPTY
    assert hash_stream(io.BytesIO(b"")) == EMPTY
    assert hash_chunks([]) == EMPTY


def test_every_entry_point_agrees_across_chunk_boundaries(tmp_path: Path) -> None:
    data = os.urandom(2 * CHUNK_SIZE + 123)
    expected = hash_bytes(data)
    assert is_content_hash(expected)
    assert hash_stream(io.BytesIO(data)) == expected
    assert hash_chunks([data[:5], data[5:CHUNK_SIZE], data[CHUNK_SIZE:]]) == expected
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    assert hash_file(path) == expected
    assert hash_file(str(path)) == expected
    hasher = new_hasher()
    hasher.update(data[:1000])
    hasher.update(data[1000:])
    assert hasher.hexdigest() == expected


def test_stream_is_read_from_its_current_position() -> None:
    stream = io.BytesIO(b"headerpayload")
    stream.read(6)
    assert hash_stream(stream) == hash_bytes(b"payload")


def test_different_content_different_hash() -> None:
    assert hash_bytes(b"a") != hash_bytes(b"b")
    assert hash_bytes(b"a") != hash_bytes(b"a\x00")


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=4096), cuts=st.lists(st.integers(0, 4096), max_size=6))
def test_any_chunking_gives_the_same_digest(data: bytes, cuts: list[int]) -> None:
    points = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    chunks = [data[a:b] for a, b in itertools.pairwise(points)]
    assert hash_chunks(chunks) == hash_bytes(data)


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (EMPTY, True),
        ("0" * 64, True),
        (EMPTY.upper(), False),
        (EMPTY[:-1], False),
        (EMPTY + "0", False),
        (EMPTY + "\n", False),
        ("g" * 64, False),
        ("../" + EMPTY[3:], False),
        ("", False),
    ],
)
def test_is_content_hash(value: str, ok: bool) -> None:
    assert is_content_hash(value) is ok
