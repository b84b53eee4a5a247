"""What only a store on the local file system can get wrong: layout, links, temp files."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from stackml._internal.hashing import hash_bytes
from stackml.errors import IntegrityError, NotFound
from stackml.store.blobs import local as local_module
from stackml.store.blobs.fsspec_store import FsspecBlobStore
from stackml.store.blobs.local import LocalBlobStore


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "blobs"


@pytest.fixture
def store(root: Path) -> LocalBlobStore:
    return LocalBlobStore(root)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A file outside the store that nothing may read through the store."""
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"top secret")
    return secret


def _files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() or p.is_symlink())


def test_layout_and_single_copy(store: LocalBlobStore, root: Path) -> None:
    digest = store.put_bytes(b"weights")
    store.put_bytes(b"weights")
    expected = root / digest[:2] / digest
    assert store.path_of(digest) == expected
    assert _files_under(root) == [expected, root / "layout"]
    assert (root / "layout").read_text() == "flat\n"
    assert expected.read_bytes() == b"weights"
    assert (root / "tmp").is_dir() and (root / "quarantine").is_dir()


def test_storing_again_refreshes_the_age(store: LocalBlobStore) -> None:
    digest = store.put_bytes(b"old content")
    long_ago = time.time() - 10 * 24 * 3600
    os.utime(store.path_of(digest), (long_ago, long_ago))
    assert store.modified_time(digest) == pytest.approx(long_ago)
    store.put_bytes(b"old content")
    refreshed = store.modified_time(digest)
    assert refreshed is not None and refreshed > long_ago + 24 * 3600


def test_symlink_at_blob_path_is_refused(store: LocalBlobStore, root: Path, outside: Path) -> None:
    # The link even carries the right name for the outside file's content, so only the
    # refusal to follow links protects the file.
    digest = hash_bytes(outside.read_bytes())
    link = store.path_of(digest)
    link.parent.mkdir(parents=True)
    link.symlink_to(outside)
    with pytest.raises(IntegrityError, match="link"):
        store.get_bytes(digest)
    with pytest.raises(IntegrityError):
        store.open(digest)
    with pytest.raises(IntegrityError):
        store.size(digest)
    assert not store.exists(digest)
    assert store.verify(digest) is False
    assert list(store.iter_digests()) == [digest]  # listed, so fsck can flag it


def test_symlinked_folder_is_refused(store: LocalBlobStore, root: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    data = b"outside data"
    digest = hash_bytes(data)
    elsewhere.mkdir()
    (elsewhere / digest).write_bytes(data)
    (root / digest[:2]).symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(IntegrityError):
        store.get_bytes(digest)
    assert list(store.iter_digests()) == []  # the walk does not follow the link either


@pytest.mark.timeout(20)
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_fifo_at_blob_path_is_refused_without_blocking(store: LocalBlobStore) -> None:
    digest = hash_bytes(b"pipe")
    path = store.path_of(digest)
    path.parent.mkdir(parents=True)
    os.mkfifo(path)
    with pytest.raises(IntegrityError, match="regular file"):
        store.get_bytes(digest)
    assert store.put_bytes(b"pipe") == digest  # storing the content replaces the pipe
    assert store.get_bytes(digest) == b"pipe"


def test_resolved_path_check_when_dir_fd_is_unavailable(
    store: LocalBlobStore, root: Path, outside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local_module, "_WALK_WITH_DIR_FD", False)
    good = store.put_bytes(b"fine")
    assert store.get_bytes(good) == b"fine"
    digest = hash_bytes(outside.read_bytes())
    link = store.path_of(digest)
    link.parent.mkdir(parents=True)
    link.symlink_to(outside)
    with pytest.raises(IntegrityError):
        store.get_bytes(digest)
    with pytest.raises(NotFound):
        store.get_bytes(hash_bytes(b"absent"))


def test_storing_real_content_replaces_a_planted_link(
    store: LocalBlobStore, root: Path, outside: Path
) -> None:
    data = outside.read_bytes()
    digest = hash_bytes(data)
    link = store.path_of(digest)
    link.parent.mkdir(parents=True)
    link.symlink_to(outside)
    assert store.put_bytes(data) == digest
    assert not link.is_symlink()
    assert store.get_bytes(digest) == data
    assert outside.read_bytes() == b"top secret"  # the link's target was never written


def test_quarantine_moves_the_file_aside(store: LocalBlobStore, root: Path) -> None:
    digest = store.put_bytes(b"to inspect")
    store.quarantine(digest)
    kept = list((root / "quarantine").iterdir())
    assert len(kept) == 1 and kept[0].name.startswith(digest)
    assert kept[0].read_bytes() == b"to inspect"


def test_iter_digests_ignores_foreign_files(store: LocalBlobStore, root: Path) -> None:
    digest = store.put_bytes(b"real")
    (root / "README").write_text("not a blob")
    (root / "tmp" / "put-123.part").write_bytes(b"in flight")
    misplaced = hash_bytes(b"misplaced")
    (root / digest[:2] / misplaced).write_bytes(b"misplaced")
    (root / "zz").mkdir()
    assert list(store.iter_digests()) == [digest]


def test_clean_temp_removes_only_stale_files(store: LocalBlobStore, root: Path) -> None:
    stale = root / "tmp" / "put-stale.part"
    fresh = root / "tmp" / "put-fresh.part"
    stale.write_bytes(b"left by a crash")
    fresh.write_bytes(b"being written")
    long_ago = time.time() - 7200
    os.utime(stale, (long_ago, long_ago))
    assert store.clean_temp(older_than_seconds=3600) == 1
    assert not stale.exists() and fresh.exists()


def test_older_nested_store_keeps_working(tmp_path: Path) -> None:
    root = tmp_path / "nested"
    data = b"written by an older version"
    digest = hash_bytes(data)
    (root / digest[:2] / digest[2:4]).mkdir(parents=True)
    (root / digest[:2] / digest[2:4] / digest).write_bytes(data)
    store = LocalBlobStore(root)
    assert store.depth == 2 and (root / "layout").read_text() == "nested\n"
    assert store.get_bytes(digest) == data
    new = store.put_bytes(b"new content")
    assert store.path_of(new) == root / new[:2] / new[2:4] / new
    assert sorted(store.iter_digests()) == sorted([digest, new])
    assert LocalBlobStore(root).depth == 2  # the marker decides from now on


def test_unknown_layout_is_a_clear_error(tmp_path: Path) -> None:
    root = tmp_path / "odd"
    root.mkdir()
    (root / "layout").write_text("spiral\n")
    with pytest.raises(IntegrityError, match="unknown blob layout"):
        LocalBlobStore(root)


def test_fsspec_file_store_refuses_links_too(tmp_path: Path, outside: Path) -> None:
    root = tmp_path / "fsblobs"
    store = FsspecBlobStore(f"file://{root}")
    digest = hash_bytes(outside.read_bytes())
    link = root / digest[:2] / digest
    link.parent.mkdir(parents=True)
    link.symlink_to(outside)
    with pytest.raises(IntegrityError):
        store.get_bytes(digest)
    assert not store.exists(digest)
    assert store.put_bytes(outside.read_bytes()) == digest
    assert not link.is_symlink()


def test_fsspec_stores_share_the_flat_layout(tmp_path: Path) -> None:
    root = tmp_path / "shared"
    store = FsspecBlobStore(f"file://{root}")
    digest = store.put_bytes(b"one layout for both")
    assert (root / digest[:2] / digest).read_bytes() == b"one layout for both"
    assert (root / "layout").read_text() == "flat\n"
    local = LocalBlobStore(root)
    assert local.depth == 1 and local.get_bytes(digest) == b"one layout for both"


@pytest.mark.parametrize("kind", ["file", "memory"])
def test_fsspec_store_reads_an_older_nested_prefix(tmp_path: Path, kind: str) -> None:
    root = tmp_path / "nested-fs"
    url = f"file://{root}" if kind == "file" else f"memory://nested-{os.getpid()}/{tmp_path.name}"
    data = b"written by an older version"
    digest = hash_bytes(data)
    store = FsspecBlobStore(url)
    store.fs.makedirs(f"{store.root}/{digest[:2]}/{digest[2:4]}", exist_ok=True)
    store.fs.pipe_file(f"{store.root}/{digest[:2]}/{digest[2:4]}/{digest}", data)
    try:
        assert store.get_bytes(digest) == data
        assert store.depth == 2
        new = store.put_bytes(b"new content")
        assert store.key_of(new) == f"{store.root}/{new[:2]}/{new[2:4]}/{new}"
        assert sorted(store.iter_digests()) == sorted([digest, new])
        assert store.fs.cat_file(f"{store.root}/layout") == b"nested\n"
        assert FsspecBlobStore(url).depth == 2  # the marker decides from now on
    finally:
        store.fs.rm(store.root, recursive=True)


def test_fsspec_store_refuses_an_unknown_layout() -> None:
    store = FsspecBlobStore(f"memory://odd-{os.getpid()}/blobs")
    store.fs.pipe_file(f"{store.root}/layout", b"spiral\n")
    with pytest.raises(IntegrityError, match="unknown blob layout"):
        store.exists(hash_bytes(b"x"))
    store.fs.rm(store.root, recursive=True)
