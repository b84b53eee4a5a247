"""Bad input and faults: symlinks, special files, malformed CSV, crafted manifests, corrupt
blobs, interrupted adds and garbage collection after a soft delete."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import BinaryIO

import pytest

import stackml.data as sd
from stackml.data.manifest import Manifest, ManifestEntry
from stackml.data.materialize import materialize
from stackml.errors import IntegrityError, InvalidInput, NotFound, StoreUnavailable
from stackml.store import Store
from stackml.store.blobs.local import LocalBlobStore
from stackml.store.datasets_base import VersionDraft
from stackml.store.maintenance import check_blobs, collect_garbage


def test_symlinks_are_refused_unless_followed(store: Store, tree: Path) -> None:
    (tree / "link.txt").symlink_to(tree / "f0.txt")
    with pytest.raises(InvalidInput, match=r"link\.txt: is a symlink; pass --follow-symlinks"):
        sd.add("s", tree, store=store)
    v = sd.add("s", tree, store=store, follow_symlinks=True)
    entries = sd.get("s", store=store).manifest.by_path()
    assert v.num_files == 7 and entries["link.txt"].hash == entries["f0.txt"].hash


def test_symlink_loops_and_dangling_links_are_named(store: Store, tree: Path) -> None:
    (tree / "sub" / "loop").symlink_to(tree)
    with pytest.raises(InvalidInput, match="symlink loop"):
        sd.add("s", tree, store=store, follow_symlinks=True)
    (tree / "sub" / "loop").unlink()
    (tree / "dangling").symlink_to(tree / "nowhere")
    with pytest.raises(InvalidInput, match=r"dangling: cannot read"):
        sd.add("s", tree, store=store, follow_symlinks=True)


def test_special_files_are_refused_with_their_name(store: Store, tree: Path) -> None:
    os.mkfifo(tree / "pipe")
    with pytest.raises(InvalidInput, match=r"pipe: not a regular file"):
        sd.add("s", tree, store=store)
    with pytest.raises(NotFound):
        sd.list_versions("s", store=store)


def test_malformed_csv_names_file_and_line(store: Store, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n3,4\n5,6,7\n8,9\n")
    with pytest.raises(InvalidInput, match=r"bad\.csv, line 4: malformed CSV: expected 2 fields"):
        sd.add("c", bad, store=store)
    parquet = tmp_path / "broken.parquet"
    parquet.write_bytes(b"not parquet at all")
    with pytest.raises(InvalidInput, match=r"broken\.parquet: not a readable Parquet file"):
        sd.add("c", parquet, store=store)


@pytest.mark.parametrize("path", ["../escape.txt", "/etc/evil", "a/../../b", "ok/./x", "a\\..\\b"])
def test_crafted_manifest_paths_cannot_escape(store: Store, tmp_path: Path, path: str) -> None:
    digest = store.blobs.put_bytes(b"payload")
    raw = Manifest((ManifestEntry(path, digest, 7, "text/plain"),)).to_bytes()
    manifest_hash = store.blobs.put_bytes(raw)
    store.metadata.create_dataset_version(
        VersionDraft("evil", "files", manifest_hash, None, [digest], 1, None, 7, "", "x")
    )
    dest = tmp_path / "deep" / "dest"
    with pytest.raises(InvalidInput, match="dataset file path"):
        _ = sd.get("evil", dest=dest, store=store).path
    assert not (tmp_path / "deep" / "escape.txt").exists() and not (tmp_path / "b").exists()


def _corrupt(store: Store, digest: str) -> None:
    assert isinstance(store.blobs, LocalBlobStore)
    path = store.blobs.path_of(digest)
    os.chmod(path, 0o644)
    path.write_bytes(b"tampered" + path.read_bytes()[8:])


@pytest.mark.parametrize("link", [False, True])
def test_corrupt_blob_is_detected_on_get_and_by_fsck(
    store: Store, tree: Path, tmp_path: Path, link: bool
) -> None:
    sd.add("bad", tree, store=store)
    digest = sd.get("bad", store=store).manifest.by_path()["sub/nested.bin"].hash
    _corrupt(store, digest)
    with pytest.raises(IntegrityError, match=r"sub/nested\.bin: its stored blob .* is corrupt"):
        materialize(store.blobs, sd.resolve("bad", store=store), tmp_path / "out", link=link)
    report = check_blobs(store.blobs, metadata=store.metadata)
    assert digest in report.corrupt


def test_link_mode_shares_read_only_files(store: Store, tree: Path, tmp_path: Path) -> None:
    sd.add("l", tree, store=store)
    out = materialize(store.blobs, sd.resolve("l", store=store), tmp_path / "out", link=True)
    target = out / "f0.txt"
    assert target.read_text() == "file 0\n"
    linked = target.stat().st_nlink > 1
    assert not linked or not (target.stat().st_mode & 0o222)  # hardlinks are read-only


class _FullDisk(LocalBlobStore):
    """A local blob store whose disk fills up after a few writes."""

    def __init__(self, root: Path, room: int) -> None:
        super().__init__(root)
        self.room = room

    def put_stream(self, stream: BinaryIO, *, expected_hash: str | None = None) -> str:
        if self.room <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= 1
        return super().put_stream(stream, expected_hash=expected_hash)


def test_disk_error_mid_add_leaves_no_version(store: Store, tree: Path) -> None:
    full = Store(store.metadata, _FullDisk(Path(store.blobs.url), room=3), store.location)
    with pytest.raises(StoreUnavailable, match=r"No space left on device.*run the add again"):
        sd.add("interrupted", tree, store=full, workers=1)
    with pytest.raises(NotFound):
        sd.list_versions("interrupted", store=store)
    assert sd.list_datasets(store=store) == []
    v = sd.add("interrupted", tree, store=store)
    assert v.number == 1 and v.num_files == 6


@pytest.mark.slow
def test_killed_add_leaves_no_version_and_rerun_succeeds(store: Store, tmp_path: Path) -> None:
    big = tmp_path / "big"
    big.mkdir()
    for i in range(3000):
        (big / f"{i:05d}.bin").write_bytes(os.urandom(2048))
    root = tmp_path / "store"
    code = (
        "import sys, stackml.data as sd; from stackml.store import open_store;"
        f"sd.add('k', {str(big)!r}, store=open_store({str(root)!r}), workers=1)"
    )
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "kcache")}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)
    blobs = Path(store.blobs.url)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if sum(1 for _ in blobs.glob("??/*")) > 50:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the add finished before it could be killed"
    with pytest.raises(NotFound):
        sd.list_versions("k", store=store)
    v = sd.add("k", big, store=store)
    assert v.num_files == 3000 and len(sd.list_versions("k", store=store)) == 1


def test_rm_then_gc_frees_only_that_versions_blobs(store: Store, tree: Path) -> None:
    keep = sd.add("g", tree, store=store)
    (tree / "only-in-v2.txt").write_text("v2 only")
    gone = sd.add("g", tree, store=store)
    only = sd.get("g", "v2", store=store).manifest.by_path()["only-in-v2.txt"].hash
    sd.remove("g", "v2", store=store)
    report = collect_garbage(store.metadata, store.blobs, grace_seconds=0)
    assert {only, gone.manifest_hash} <= set(report.deleted)
    assert not store.blobs.exists(only)
    assert not store.blobs.exists(gone.manifest_hash)  # type: ignore[arg-type]
    assert store.blobs.exists(keep.manifest_hash)  # type: ignore[arg-type]
    assert sd.get("g", "v1", store=store).manifest.entries  # v1 still reads back whole


def test_scanned_names_are_checked_once_per_folder_and_named_in_full(
    store: Store, tree: Path
) -> None:
    (tree / "odd#dir").mkdir()  # an empty folder with an odd name holds nothing to refuse
    assert sd.add("p", tree, store=store).num_files == 6
    (tree / "odd#dir" / "fine.txt").write_text("x")
    with pytest.raises(InvalidInput, match=r"'odd#dir/fine\.txt' contains a character"):
        sd.add("p", tree, store=store)
    (tree / "odd#dir" / "fine.txt").unlink()
    (tree / "sub" / "bad;name.txt").write_text("x")
    with pytest.raises(InvalidInput, match=r"'sub/bad;name\.txt' contains a character"):
        sd.add("p", tree, store=store)
    (tree / "sub" / "bad;name.txt").unlink()
    deep = tree.joinpath("sub", *(c * 200 for c in "defghi"))
    deep.mkdir(parents=True)
    (deep / "x.txt").write_text("x")
    with pytest.raises(InvalidInput, match="longer than 1024 characters"):
        sd.add("p", tree, store=store)
    assert len(sd.list_versions("p", store=store)) == 1


def test_gc_keeps_every_file_of_live_versions_and_frees_the_rest(store: Store, tree: Path) -> None:
    v1 = sd.add("h", tree, store=store)
    (tree / "f0.txt").write_text("changed in v2\n")
    (tree / "shared.txt").write_text("in v2 and v3\n")
    sd.add("h", tree, store=store)
    v2_only = sd.get("h", "v2", store=store).manifest.by_path()["f0.txt"].hash
    (tree / "f0.txt").write_text("changed again in v3\n")
    v3 = sd.add("h", tree, store=store)
    other = sd.add("other", tree / "sub", store=store)  # shares nested.bin with every version
    sd.remove("h", "v2", store=store)
    report = collect_garbage(store.metadata, store.blobs, grace_seconds=0)
    assert v2_only in report.deleted and not store.blobs.exists(v2_only)
    for version in (v1, v3, other):
        files = sd.get(version.dataset, version.id, store=store).manifest.entries
        assert all(store.blobs.exists(e.hash) for e in files)
    again = collect_garbage(store.metadata, store.blobs, grace_seconds=0)
    assert again.deleted == () and again.referenced == again.scanned
    assert check_blobs(store.blobs, metadata=store.metadata).ok
    out = materialize(store.blobs, sd.resolve("h", "v1", store=store), tree.parent / "v1")
    assert (out / "f0.txt").read_text() == "file 0\n"


def test_a_small_file_that_changed_size_since_listing_is_refused(
    store: Store, tmp_path: Path
) -> None:
    from stackml.data.ingest import LocalIngest

    assert isinstance(store.blobs, LocalBlobStore)
    src = tmp_path / "grown.txt"
    src.write_bytes(b"0123456789")
    st = src.stat()
    ingest = LocalIngest(store.blobs.root)
    for listed in (5, 20):  # grew or shrank after the folder was listed
        with pytest.raises(InvalidInput, match=r"grown\.txt: changed while it was being added"):
            ingest.put_path(str(src), listed, st.st_mtime_ns)
    assert list(store.blobs.iter_digests()) == []
    assert store.blobs.exists(ingest.put_path(str(src), 10, st.st_mtime_ns))
