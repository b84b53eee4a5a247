"""Behaviour every blob store shares, run against each back end.

``local`` is :class:`LocalBlobStore`; ``file``, ``memory`` and ``s3`` are
:class:`FsspecBlobStore` over a folder, fsspec's in-memory file system and moto's real S3
HTTP server on loopback.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import multiprocessing
import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from stackml._internal.hashing import hash_bytes
from stackml.errors import IntegrityError, InvalidInput, NotFound
from stackml.store.blobs.base import BlobStore
from stackml.store.blobs.local import LocalBlobStore
from tests.store.blob_backends import S3_BUCKET, moto_s3, open_backend, put_in_worker


@dataclass
class Backend:
    """A store under test and a way to tamper with its stored bytes."""

    kind: str
    store: BlobStore
    location: str
    endpoint: str | None
    overwrite: Callable[[str, bytes], None]
    spool_dir: Path


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    with moto_s3() as endpoint:
        yield endpoint


def _local_overwrite(root: Path) -> Callable[[str, bytes], None]:
    def overwrite(digest: str, data: bytes) -> None:
        LocalBlobStore(root).path_of(digest).write_bytes(data)

    return overwrite


def _fs_overwrite(store: BlobStore) -> Callable[[str, bytes], None]:
    def overwrite(digest: str, data: bytes) -> None:
        store.fs.pipe_file(store.key_of(digest), data)  # type: ignore[attr-defined]

    return overwrite


@pytest.fixture(
    params=["local", "file", "memory", pytest.param("s3", marks=pytest.mark.s3)],
)
def backend(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Backend]:
    kind: str = request.param
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    # fsspec stores spool uploads in the system temp folder; give each test its own.
    monkeypatch.setattr(tempfile, "tempdir", str(spool_dir))
    endpoint = None
    if kind in ("local", "file"):
        location = str(tmp_path / "blobs")
    elif kind == "memory":
        location = f"memory://stackml-{uuid.uuid4().hex}/blobs"
    else:
        endpoint = request.getfixturevalue("moto_endpoint")
        location = f"s3://{S3_BUCKET}/{uuid.uuid4().hex}/blobs"
    store = open_backend(kind, location, endpoint)
    overwrite = (
        _local_overwrite(Path(location)) if kind in ("local", "file") else _fs_overwrite(store)
    )
    yield Backend(kind, store, location, endpoint, overwrite, spool_dir)
    if kind == "memory":
        with contextlib.suppress(FileNotFoundError):
            store.fs.rm(store.root, recursive=True)  # type: ignore[attr-defined]


class FailingStream(io.RawIOBase):
    """Yields some bytes, then fails the way a dropped connection would."""

    def __init__(self, good_chunks: int) -> None:
        self.left = good_chunks

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self.left == 0:
            raise ConnectionResetError("peer went away")
        self.left -= 1
        return b"x" * 4096


# -- round trips ----------------------------------------------------------------------------


def test_round_trip_bytes_file_and_stream(backend: Backend, tmp_path: Path) -> None:
    store = backend.store
    digest = store.put_bytes(b"hello world")
    assert digest == hash_bytes(b"hello world")
    assert store.exists(digest)
    assert store.size(digest) == 11
    assert store.get_bytes(digest) == b"hello world"
    assert store.verify(digest)

    src = tmp_path / "model.bin"
    src.write_bytes(os.urandom(3 * (1 << 20) + 17))  # several chunks, not a multiple of one
    file_digest = store.put_file(src)
    assert file_digest == hash_bytes(src.read_bytes())
    out = store.get_file(file_digest, tmp_path / "out" / "copy.bin")
    assert out.read_bytes() == src.read_bytes()
    assert sorted(store.iter_digests()) == sorted([digest, file_digest])


def test_reader_supports_partial_reads_and_lines(backend: Backend) -> None:
    data = b"first line\nsecond line\n" + bytes(range(256)) * 10
    digest = backend.store.put_stream(io.BytesIO(data))
    with backend.store.open(digest) as fh:
        assert fh.readline() == b"first line\n"
        assert fh.read(7) == b"second "
        assert fh.read() == data[len(b"first line\nsecond ") :]
        assert fh.read() == b""


def test_empty_blob(backend: Backend) -> None:
    digest = backend.store.put_bytes(b"")
    assert backend.store.get_bytes(digest) == b""
    assert backend.store.size(digest) == 0


def test_identical_content_is_stored_once(backend: Backend) -> None:
    first = backend.store.put_bytes(b"same bytes")
    second = backend.store.put_stream(io.BytesIO(b"same bytes"))
    assert first == second
    assert list(backend.store.iter_digests()) == [first]


def test_expected_hash(backend: Backend) -> None:
    data = b"payload"
    assert backend.store.put_stream(io.BytesIO(data), expected_hash=hash_bytes(data))
    other = hash_bytes(b"something else")
    with pytest.raises(IntegrityError):
        backend.store.put_stream(io.BytesIO(b"tampered"), expected_hash=other)
    assert not backend.store.exists(other)
    assert not backend.store.exists(hash_bytes(b"tampered"))
    assert list(backend.store.iter_digests()) == [hash_bytes(data)]
    assert list(backend.spool_dir.iterdir()) == []


def test_failed_write_leaves_nothing(backend: Backend) -> None:
    with pytest.raises(ConnectionResetError):
        backend.store.put_stream(FailingStream(good_chunks=300))  # type: ignore[arg-type]
    assert list(backend.store.iter_digests()) == []
    assert not backend.store.exists(hash_bytes(b"x" * 4096 * 300))
    assert list(backend.spool_dir.iterdir()) == []
    if backend.kind == "local":
        assert list((Path(backend.location) / "tmp").iterdir()) == []


def test_stream_of_text_is_refused(backend: Backend) -> None:
    with pytest.raises(TypeError):
        backend.store.put_stream(io.StringIO("text"))  # type: ignore[arg-type]
    assert list(backend.store.iter_digests()) == []


# -- verification -------------------------------------------------------------------------


def test_flipped_byte_is_detected_on_every_read_path(backend: Backend, tmp_path: Path) -> None:
    data = os.urandom(100_000)
    digest = backend.store.put_bytes(data)
    damaged = bytearray(data)
    damaged[54_321] ^= 0x01
    backend.overwrite(digest, bytes(damaged))

    with pytest.raises(IntegrityError, match=digest), backend.store.open(digest) as fh:
        while fh.read(4096):
            pass
    with pytest.raises(IntegrityError):
        backend.store.get_bytes(digest)
    dest = tmp_path / "dl" / "blob.bin"
    with pytest.raises(IntegrityError):
        backend.store.get_file(digest, dest)
    assert list(dest.parent.iterdir()) == []  # no partial download left behind
    assert backend.store.verify(digest) is False


def test_truncated_blob_is_detected(backend: Backend) -> None:
    digest = backend.store.put_bytes(b"0123456789" * 1000)
    backend.overwrite(digest, b"0123456789" * 999)
    with pytest.raises(IntegrityError):
        backend.store.get_bytes(digest)


def test_quarantine_takes_a_blob_out_of_service(backend: Backend) -> None:
    keep = backend.store.put_bytes(b"good")
    bad = backend.store.put_bytes(b"bad")
    backend.overwrite(bad, b"BAD")
    backend.store.quarantine(bad)
    assert not backend.store.exists(bad)
    assert list(backend.store.iter_digests()) == [keep]
    with pytest.raises(NotFound):
        backend.store.get_bytes(bad)
    # Storing the right content again heals the store.
    assert backend.store.put_bytes(b"bad") == bad
    assert backend.store.get_bytes(bad) == b"bad"


# -- absent and malformed -----------------------------------------------------------------


def test_absent_blob(backend: Backend) -> None:
    digest = hash_bytes(b"never stored")
    assert not backend.store.exists(digest)
    for call in (backend.store.open, backend.store.get_bytes, backend.store.size):
        with pytest.raises(NotFound):
            call(digest)
    with pytest.raises(NotFound):
        backend.store.quarantine(digest)
    backend.store.delete(digest)  # deleting what is not there is fine


def test_delete(backend: Backend) -> None:
    digest = backend.store.put_bytes(b"short-lived")
    backend.store.delete(digest)
    assert not backend.store.exists(digest)
    assert list(backend.store.iter_digests()) == []


BAD_DIGESTS = [
    "../x",
    "../" + "a" * 61,
    "A" * 64,
    hash_bytes(b"x").upper(),
    "abc",
    "a" * 63,
    "a" * 65,
    "aa/bb/" + "a" * 58,
    "/etc/passwd",
    "g" * 64,
    "a" * 63 + "\x00",
    hash_bytes(b"x") + "\n",
    hashlib.sha256(b"x").hexdigest()[:40],
    "",
]


@pytest.mark.parametrize("digest", BAD_DIGESTS)
def test_malformed_digests_are_refused(backend: Backend, digest: str) -> None:
    store = backend.store
    calls: list[Callable[[str], object]] = [
        store.open,
        store.get_bytes,
        store.exists,
        store.size,
        store.delete,
        store.verify,
        store.quarantine,
        store.modified_time,
        lambda d: store.get_file(d, Path("out.bin")),
        lambda d: store.put_stream(io.BytesIO(b"data"), expected_hash=d),
    ]
    for call in calls:
        with pytest.raises(InvalidInput):
            call(digest)
    assert list(store.iter_digests()) == []


def test_non_string_digest_is_refused(backend: Backend) -> None:
    with pytest.raises(InvalidInput):
        backend.store.exists(None)  # type: ignore[arg-type]


# -- concurrency ----------------------------------------------------------------------------


def test_concurrent_threads_same_and_different_content(backend: Backend) -> None:
    shared = os.urandom(200_000)
    payloads = [shared if i % 2 else os.urandom(50_000 + i) for i in range(16)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        digests = list(pool.map(backend.store.put_bytes, payloads))
    assert digests == [hash_bytes(p) for p in payloads]
    assert sorted(backend.store.iter_digests()) == sorted(set(digests))
    for digest, data in zip(digests, payloads, strict=True):
        assert backend.store.get_bytes(digest) == data


def test_concurrent_processes_same_and_different_content(backend: Backend) -> None:
    if backend.kind == "memory":
        pytest.skip("the in-memory file system is private to one process")
    shared = os.urandom(300_000)
    jobs = [[shared, os.urandom(10_000 + i)] for i in range(4)]
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=4, mp_context=ctx) as pool:
        futures = [
            pool.submit(put_in_worker, backend.kind, backend.location, backend.endpoint, job)
            for job in jobs
        ]
        results = [f.result(timeout=120) for f in futures]
    expected = {hash_bytes(p) for job in jobs for p in job}
    assert {d for r in results for d in r} == expected
    assert sorted(backend.store.iter_digests()) == sorted(expected)
    assert backend.store.get_bytes(hash_bytes(shared)) == shared


def test_modified_time_is_known_for_stored_blobs(backend: Backend) -> None:
    digest = backend.store.put_bytes(b"dated")
    when = backend.store.modified_time(digest)
    assert when is not None and when > 1_600_000_000
