"""``collect_garbage`` and ``check_blobs`` over a real ``SqlMetadataStore`` and blob stores."""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import FrozenInstanceError
from datetime import datetime, timezone
from pathlib import Path

import pytest

from stackml._internal.hashing import hash_bytes
from stackml.errors import InvalidInput
from stackml.store.blobs.base import BlobStore
from stackml.store.blobs.fsspec_store import FsspecBlobStore
from stackml.store.blobs.local import LocalBlobStore
from stackml.store.entities import Artifact
from stackml.store.maintenance import check_blobs, collect_garbage
from stackml.store.sql.store import SqlMetadataStore

DAY = 24 * 3600


@pytest.fixture
def metadata(tmp_path: Path) -> Iterator[SqlMetadataStore]:
    store = SqlMetadataStore(f"sqlite:///{tmp_path / 'meta.db'}")
    yield store
    store.close()


Ager = Callable[[str, float], None]


@pytest.fixture(params=["local", "memory"])
def blobs_and_ager(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[BlobStore, Ager]]:
    """A blob store and a way to make one of its blobs look ``seconds`` old."""
    if request.param == "local":
        local = LocalBlobStore(tmp_path / "blobs")

        def age_local(digest: str, seconds: float) -> None:
            then = time.time() - seconds
            os.utime(local.path_of(digest), (then, then))

        yield local, age_local
        return
    remote = FsspecBlobStore(f"memory://gc-{uuid.uuid4().hex}/blobs")

    def age_memory(digest: str, seconds: float) -> None:
        entry = remote.fs.store[remote.key_of(digest)]  # type: ignore[attr-defined]
        entry.modified = datetime.fromtimestamp(time.time() - seconds, tz=timezone.utc)

    yield remote, age_memory
    with contextlib.suppress(FileNotFoundError):
        remote.fs.rm(remote.root, recursive=True)


def _log(metadata: SqlMetadataStore, run_id: str, path: str, data: bytes) -> None:
    metadata.log_artifact(
        Artifact(
            run_id=run_id,
            path=path,
            blob_hash=hash_bytes(data),
            size=len(data),
            media_type="application/octet-stream",
            created_at=0,
        )
    )


def test_gc_keeps_referenced_deletes_old_orphans_and_spares_young_ones(
    metadata: SqlMetadataStore, blobs_and_ager: tuple[BlobStore, Ager]
) -> None:
    blobs, age = blobs_and_ager
    run = metadata.create_run("gc-project")
    used = blobs.put_bytes(b"model weights")
    _log(metadata, run.id, "model/weights.bin", b"model weights")
    age(used, 30 * DAY)  # old, but referenced
    orphan = blobs.put_bytes(b"orphaned upload" * 100)
    age(orphan, 2 * DAY)
    young = blobs.put_bytes(b"upload whose row is not written yet")

    calls: list[tuple[int, int | None]] = []
    report = collect_garbage(
        metadata, blobs, grace_seconds=3600, progress=lambda n, t: calls.append((n, t))
    )

    assert report.deleted == (orphan,)
    assert report.spared == (young,)
    assert report.referenced == 1
    assert report.scanned == 3
    assert report.bytes_freed == len(b"orphaned upload" * 100)
    assert report.dry_run is False
    assert sorted(blobs.iter_digests()) == sorted([used, young])
    assert blobs.get_bytes(used) == b"model weights"
    assert {t for _, t in calls} == {3}
    assert sum(n for n, _ in calls) == 3

    # Once past the grace period, the never-referenced upload goes too.
    age(young, 2 * 3600)
    second = collect_garbage(metadata, blobs, grace_seconds=3600)
    assert second.deleted == (young,)
    assert list(blobs.iter_digests()) == [used]


def test_gc_dry_run_deletes_nothing(
    metadata: SqlMetadataStore, blobs_and_ager: tuple[BlobStore, Ager]
) -> None:
    blobs, age = blobs_and_ager
    orphans = sorted(blobs.put_bytes(f"orphan {i}".encode()) for i in range(3))
    for digest in orphans:
        age(digest, DAY)
    report = collect_garbage(metadata, blobs, dry_run=True)
    assert report.dry_run is True
    assert sorted(report.deleted) == orphans
    assert report.bytes_freed == sum(len(f"orphan {i}".encode()) for i in range(3))
    assert sorted(blobs.iter_digests()) == orphans


def test_gc_with_zero_grace_removes_every_orphan(
    metadata: SqlMetadataStore, blobs_and_ager: tuple[BlobStore, Ager]
) -> None:
    blobs, _ = blobs_and_ager
    run = metadata.create_run("p")
    blobs.put_bytes(b"kept")
    _log(metadata, run.id, "kept.txt", b"kept")
    blobs.put_bytes(b"gone")
    report = collect_garbage(metadata, blobs, grace_seconds=0)
    assert report.deleted == (hash_bytes(b"gone"),)
    assert list(blobs.iter_digests()) == [hash_bytes(b"kept")]


def test_gc_of_an_empty_store(metadata: SqlMetadataStore, tmp_path: Path) -> None:
    report = collect_garbage(metadata, LocalBlobStore(tmp_path / "empty"))
    assert (report.scanned, report.deleted, report.spared, report.bytes_freed) == (0, (), (), 0)


def test_gc_refuses_a_negative_grace_period(metadata: SqlMetadataStore, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="grace"):
        collect_garbage(metadata, LocalBlobStore(tmp_path / "b"), grace_seconds=-1)


class AgelessBlobStore(LocalBlobStore):
    """A store that can't tell when a blob was written (like the base-class default)."""

    def modified_time(self, digest: str) -> float | None:
        return None


def test_gc_spares_blobs_of_unknown_age(metadata: SqlMetadataStore, tmp_path: Path) -> None:
    blobs = AgelessBlobStore(tmp_path / "blobs")
    digest = blobs.put_bytes(b"age unknown")
    report = collect_garbage(metadata, blobs, grace_seconds=60)
    assert report.spared == (digest,) and report.deleted == ()
    assert blobs.exists(digest)


def test_gc_removes_a_planted_link(metadata: SqlMetadataStore, tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path / "blobs")
    target = tmp_path / "outside.txt"
    target.write_bytes(b"outside")
    digest = hash_bytes(b"outside")
    link = blobs.path_of(digest)
    link.parent.mkdir(parents=True)
    link.symlink_to(target)
    report = collect_garbage(metadata, blobs, grace_seconds=0)
    assert report.deleted == (digest,)
    assert not link.is_symlink() and target.read_bytes() == b"outside"


def test_reports_are_frozen(metadata: SqlMetadataStore, tmp_path: Path) -> None:
    report = collect_garbage(metadata, LocalBlobStore(tmp_path / "b"))
    with pytest.raises(FrozenInstanceError):
        report.bytes_freed = 1  # type: ignore[misc]


# -- fsck -----------------------------------------------------------------------------------


def test_fsck_of_a_healthy_store(metadata: SqlMetadataStore, tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path / "blobs")
    run = metadata.create_run("p")
    for i in range(3):
        data = f"file {i}".encode()
        blobs.put_bytes(data)
        _log(metadata, run.id, f"f{i}.txt", data)
    report = check_blobs(blobs, metadata=metadata)
    assert report.ok
    assert (report.checked, report.corrupt, report.missing) == (3, (), ())


def test_fsck_finds_and_quarantines_a_corrupted_blob(
    metadata: SqlMetadataStore, tmp_path: Path
) -> None:
    root = tmp_path / "blobs"
    blobs = LocalBlobStore(root)
    good = blobs.put_bytes(b"fine")
    bad = blobs.put_bytes(b"will rot" * 1000)
    path = blobs.path_of(bad)
    damaged = bytearray(path.read_bytes())
    damaged[1234] ^= 0x80
    path.write_bytes(bytes(damaged))

    found = check_blobs(blobs)
    assert found.corrupt == (bad,) and found.quarantined == () and not found.ok
    assert blobs.exists(bad)  # only reported

    ticks: list[int] = []
    fixed = check_blobs(blobs, quarantine=True, progress=lambda n, _t: ticks.append(n))
    assert fixed.corrupt == (bad,) and fixed.quarantined == (bad,)
    assert sum(ticks) == 2
    assert list(blobs.iter_digests()) == [good]
    assert [p.name.split(".")[0] for p in (root / "quarantine").iterdir()] == [bad]
    assert check_blobs(blobs).ok


def test_fsck_flags_a_planted_link(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path / "blobs")
    target = tmp_path / "outside.txt"
    target.write_bytes(b"outside")
    digest = hash_bytes(b"outside")
    blobs.path_of(digest).parent.mkdir(parents=True)
    blobs.path_of(digest).symlink_to(target)
    report = check_blobs(blobs, quarantine=True)
    assert report.corrupt == (digest,) and report.quarantined == (digest,)
    assert list(blobs.iter_digests()) == []
    assert target.read_bytes() == b"outside"


def test_fsck_reports_referenced_but_missing_blobs(
    metadata: SqlMetadataStore, blobs_and_ager: tuple[BlobStore, Ager]
) -> None:
    blobs, _ = blobs_and_ager
    run = metadata.create_run("p")
    blobs.put_bytes(b"present")
    _log(metadata, run.id, "present.txt", b"present")
    _log(metadata, run.id, "lost.txt", b"never uploaded")
    report = check_blobs(blobs, metadata=metadata)
    assert report.missing == (hash_bytes(b"never uploaded"),)
    assert report.corrupt == () and not report.ok
    assert check_blobs(blobs).missing == ()  # without rows, nothing can be missing


@pytest.mark.postgres
def test_gc_against_postgres(fresh_postgres_url: str, tmp_path: Path) -> None:
    metadata = SqlMetadataStore(fresh_postgres_url)
    try:
        blobs = LocalBlobStore(tmp_path / "blobs")
        run = metadata.create_run("pg")
        blobs.put_bytes(b"kept")
        _log(metadata, run.id, "kept.bin", b"kept")
        blobs.put_bytes(b"dropped")
        report = collect_garbage(metadata, blobs, grace_seconds=0)
        assert report.deleted == (hash_bytes(b"dropped"),)
        assert check_blobs(blobs, metadata=metadata).ok
    finally:
        metadata.close()


def test_gc_sweeps_abandoned_partial_writes(metadata: SqlMetadataStore, tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path / "blobs")
    stale = tmp_path / "blobs" / "tmp" / "put-crashed.part"
    in_flight = tmp_path / "blobs" / "tmp" / "put-writing.part"
    stale.write_bytes(b"half an upload")
    in_flight.write_bytes(b"being written")
    then = time.time() - 2 * 3600
    os.utime(stale, (then, then))
    assert collect_garbage(metadata, blobs, dry_run=True).temp_removed == 0
    assert stale.exists()
    report = collect_garbage(metadata, blobs, grace_seconds=3600)
    assert report.temp_removed == 1
    assert not stale.exists() and in_flight.exists()
