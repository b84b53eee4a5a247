"""The hash cache's per-folder snapshot: one read on a re-add of the same folder, the same
rules as the per-file rows (racy files, the store epoch, ``--verify``), files matched by
path when the folder's list of files changed, and the per-file rows for files it lacks."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import stackml.data as sd
from stackml.data.hashcache import HashCache, default_cache_path
from stackml.data.ingest import LocalIngest
from stackml.data.snapshots import PART, pack_paths, pack_stamps
from stackml.store import Store
from stackml.store.blobs.local import LocalBlobStore, blob_epoch


@pytest.fixture(autouse=True)
def _own_hash_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def _age(path: Path, seconds: int = 10) -> None:
    """Backdate a file, or every file under a folder, so the cache may keep it."""
    for p in [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]:
        st = p.stat()
        os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns - seconds * 10**9))


class Spy:
    """Records which files were read and stored, which blobs were looked for, and whether
    the per-file rows were read for a whole folder."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.stored: list[str] = []
        self.looked_for: list[str] = []
        self.folder_lookups = 0
        self.snapshot_reads = 0
        put_path, is_stored = LocalIngest.put_path, LocalIngest.is_stored
        lookup_under, snapshot = HashCache.lookup_under, HashCache.snapshot

        def spy_put(ingest: LocalIngest, source: str, size: int, mtime_ns: int) -> str:
            self.stored.append(Path(source).name)
            return put_path(ingest, source, size, mtime_ns)

        def spy_is_stored(ingest: LocalIngest, digest: str, size: int) -> bool:
            self.looked_for.append(digest)
            return is_stored(ingest, digest, size)

        def spy_lookup_under(cache: HashCache, root: Path) -> object:
            self.folder_lookups += 1
            return lookup_under(cache, root)

        def spy_snapshot(cache: HashCache, root: Path) -> object:
            self.snapshot_reads += 1
            return snapshot(cache, root)

        monkeypatch.setattr(LocalIngest, "put_path", spy_put)
        monkeypatch.setattr(LocalIngest, "is_stored", spy_is_stored)
        monkeypatch.setattr(HashCache, "lookup_under", spy_lookup_under)
        monkeypatch.setattr(HashCache, "snapshot", spy_snapshot)

    def reset(self) -> None:
        self.stored.clear()
        self.looked_for.clear()
        self.folder_lookups = self.snapshot_reads = 0


def _hashes(store: Store, name: str, version: str) -> dict[str, str]:
    return {e.path: e.hash for e in sd.get(name, version, store=store).manifest.entries}


def test_an_unchanged_folder_is_added_from_its_snapshot(
    store: Store, tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _age(tree)
    assert isinstance(store.blobs, LocalBlobStore)
    spy = Spy(monkeypatch)
    first = sd.add("s", tree, store=store)
    assert len(spy.stored) == 6
    snap = HashCache().snapshot(tree)
    assert snap is not None and snap.epoch == blob_epoch(store.blobs.root)
    assert sorted(snap.hashes()) == sorted(_hashes(store, "s", first.id).values())
    spy.reset()
    again = sd.add("s", tree, store=store)
    # Nothing read, nothing looked for, no per-file rows: the one snapshot row vouched.
    assert (spy.stored, spy.looked_for, spy.folder_lookups) == ([], [], 0)
    assert spy.snapshot_reads == 1
    assert again.manifest_hash == first.manifest_hash


def test_only_the_changed_file_is_read_again(
    store: Store, tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _age(tree)
    first = sd.add("c", tree, store=store)
    (tree / "f2.txt").write_text("an edit\n")
    _age(tree / "f2.txt", seconds=5)  # a new stamp, old enough to be kept
    spy = Spy(monkeypatch)
    second = sd.add("c", tree, store=store)
    assert spy.stored == ["f2.txt"] and spy.folder_lookups == 0
    before, after = _hashes(store, "c", first.id), _hashes(store, "c", second.id)
    assert {p for p in before if before[p] != after[p]} == {"f2.txt"}
    assert store.blobs.get_bytes(after["f2.txt"]) == b"an edit\n"
    # The snapshot now holds the edit: the next add reads nothing.
    spy.reset()
    third = sd.add("c", tree, store=store)
    assert spy.stored == [] and third.manifest_hash == second.manifest_hash


@pytest.mark.parametrize("change", ["added", "removed"])
def test_a_changed_list_of_files_is_matched_to_the_snapshot_by_path(
    store: Store, tree: Path, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    _age(tree)
    first = sd.add("l", tree, store=store)
    if change == "added":
        (tree / "sub" / "new.txt").write_text("new\n")
        _age(tree / "sub" / "new.txt")
    else:
        (tree / "f0.txt").unlink()
    (tree / "f2.txt").write_text("an edit\n")  # and one file it lists changed
    _age(tree / "f2.txt", seconds=5)
    spy = Spy(monkeypatch)
    version = sd.add("l", tree, store=store)
    assert spy.folder_lookups == 0  # the snapshot vouched for every other file it lists
    assert sorted(spy.stored) == (["f2.txt", "new.txt"] if change == "added" else ["f2.txt"])
    before, after = _hashes(store, "l", first.id), _hashes(store, "l", version.id)
    assert ("sub/new.txt" in after) == (change == "added")
    assert ("f0.txt" in after) == (change == "added")
    assert {p for p in after if after[p] != before.get(p)} == (
        {"f2.txt", "sub/new.txt"} if change == "added" else {"f2.txt"}
    )
    spy.reset()
    sd.add("l", tree, store=store)  # the new snapshot lists the new set of files
    assert (spy.stored, spy.folder_lookups) == ([], 0)


def test_files_the_snapshot_lacks_come_from_the_per_file_rows(
    store: Store, tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _age(tree)
    sd.add("p", tree, store=store)
    (tree / "sub" / "new.txt").write_text("new\n")
    _age(tree / "sub" / "new.txt")
    sd.add("q", tree / "sub", store=store)  # hashes new.txt: a per-file row for it
    spy = Spy(monkeypatch)
    version = sd.add("p", tree, store=store)
    assert spy.stored == []  # not in the folder's snapshot, but in the per-file rows
    assert store.blobs.get_bytes(_hashes(store, "p", version.id)["sub/new.txt"]) == b"new\n"


def test_a_racy_file_is_never_trusted(
    store: Store, tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _age(tree)
    (tree / "f1.txt").write_text("just written\n")  # mtime: now, within RACY_SECONDS
    sd.add("r", tree, store=store)
    snap = HashCache().snapshot(tree)
    assert snap is not None
    racy = [k for k, size in enumerate(snap.stamps[:, 0].tolist()) if size == -1]
    assert len(racy) == 1
    # Same stamp, but it could have been edited again in the same tick: it is read again.
    spy = Spy(monkeypatch)
    sd.add("r", tree, store=store)
    assert spy.stored == ["f1.txt"]


def test_a_store_epoch_change_rechecks_every_blob(
    store: Store, tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _age(tree)
    assert isinstance(store.blobs, LocalBlobStore)
    first = sd.add("e", tree, store=store)
    gone = _hashes(store, "e", first.id)["f4.txt"]
    store.blobs.quarantine(gone)  # as `stackml fsck --quarantine` does: a new epoch
    spy = Spy(monkeypatch)
    second = sd.add("e", tree, store=store)
    assert len(spy.looked_for) == 6  # every snapshot hash checked against the store
    assert spy.stored == ["f4.txt"]  # the one found missing is stored again
    assert store.blobs.verify(gone) and second.manifest_hash == first.manifest_hash
    snap = HashCache().snapshot(tree)
    assert snap is not None and snap.epoch == blob_epoch(store.blobs.root)
    spy.reset()
    sd.add("e", tree, store=store)  # recorded under the new epoch: trusted again
    assert (spy.looked_for, spy.stored) == ([], [])


def test_verify_ignores_the_snapshot(
    store: Store, tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _age(tree)
    assert isinstance(store.blobs, LocalBlobStore)
    first = sd.add("v", tree, store=store)
    digest = _hashes(store, "v", first.id)["f3.txt"]
    os.unlink(store.blobs.path_of(digest))  # behind stackml's back: the epoch stays
    spy = Spy(monkeypatch)
    sd.add("v", tree, store=store, verify=True)
    assert spy.snapshot_reads == 0 and len(spy.stored) == 6
    assert store.blobs.verify(digest)


def test_an_unreadable_cache_file_behaves_as_empty(
    store: Store, tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _age(tree)
    sd.add("u", tree, store=store)
    default_cache_path().write_bytes(b"not a database" * 1000)
    for suffix in ("-wal", "-shm"):
        Path(f"{default_cache_path()}{suffix}").unlink(missing_ok=True)
    spy = Spy(monkeypatch)
    version = sd.add("u", tree, store=store)
    assert len(spy.stored) == 6  # every file hashed, none skipped
    assert version.num_files == 6
    spy.reset()
    sd.add("u", tree, store=store)
    assert len(spy.stored) == 6


def test_a_damaged_snapshot_is_ignored(
    store: Store, tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _age(tree)
    first = sd.add("d", tree, store=store)
    with sqlite3.connect(default_cache_path()) as db:
        db.execute("UPDATE folder_snapshot_parts SET digests = substr(digests, 1, 40)")
    db.close()
    assert HashCache().snapshot(tree) is None
    spy = Spy(monkeypatch)
    again = sd.add("d", tree, store=store)
    assert spy.folder_lookups == 1 and spy.stored == []  # the per-file rows still serve
    assert again.manifest_hash == first.manifest_hash


def _files(count: int) -> tuple[list[str], np.ndarray, list[str]]:
    paths = [f"/data/f{k:05d}" for k in range(count)]
    old = time.time_ns() - 60 * 10**9
    stamps = pack_stamps((v for k in range(count) for v in (k + 1, old, 1000 + k)), count)
    assert stamps is not None
    return paths, stamps, [f"{k:064x}" for k in range(count)]


def _parts(cache: HashCache) -> dict[int, tuple[bytes, bytes]]:
    with sqlite3.connect(cache.path) as db:
        rows = db.execute("SELECT part, stamps, digests FROM folder_snapshot_parts").fetchall()
    db.close()
    return {part: (stamps, digests) for part, stamps, digests in rows}


def test_a_re_add_rewrites_only_the_parts_that_changed(tmp_path: Path) -> None:
    cache = HashCache(tmp_path / "hashes.db")
    root = Path("/data")
    paths, stamps, digests = _files(2 * PART + 10)
    packed = pack_paths(paths)
    cache.store_snapshot(root, packed, stamps, digests, epoch="e1")
    previous = cache.snapshot(root)
    assert previous is not None and previous.hashes() == digests
    before = _parts(cache)
    stamps = stamps.copy()
    stamps[PART + 3, 0] += 1
    digests[PART + 3] = "f" * 64
    cache.store_snapshot(
        root, packed, stamps, digests, epoch="e1", previous=previous, dirty=[PART + 3]
    )
    after = _parts(cache)
    assert [k for k in before if before[k] != after[k]] == [1]
    now = cache.snapshot(root)
    assert now is not None and now.hashes() == digests and now.token != previous.token
    assert (now.stamps == stamps).all()
    # Starting from a snapshot that is no longer the stored one, the write is whole: patching
    # what differs from ``previous`` (part 0 only) would keep part 1 of the newer one.
    digests = previous.hashes()
    digests[0] = "e" * 64
    cache.store_snapshot(root, packed, previous.stamps, digests, epoch="e2", previous=previous)
    last = cache.snapshot(root)
    assert last is not None and last.hashes() == digests and last.epoch == "e2"
    assert (last.stamps == previous.stamps).all()


def test_concurrent_adds_of_different_folders(store: Store, tmp_path: Path) -> None:
    roots = []
    for name in ("a", "b"):
        root = tmp_path / name
        root.mkdir()
        for k in range(40):
            (root / f"{name}{k}.txt").write_text(f"{name} {k}\n")
        _age(root)
        roots.append(root)
    errors: list[BaseException] = []

    def add_often(name: str, root: Path) -> None:
        try:
            for k in range(5):
                (root / f"{name}0.txt").write_text(f"{name} edit {k}\n")
                _age(root / f"{name}0.txt", seconds=5 + k)
                sd.add(name, root, store=store)
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=add_often, args=(r.name, r)) for r in roots]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for root in roots:
        snap = HashCache().snapshot(root)
        latest = sd.get(root.name, store=store).manifest
        assert snap is not None and len(snap.hashes()) == 40
        assert sorted(snap.hashes()) == sorted(e.hash for e in latest.entries)
        assert store.blobs.get_bytes(latest.by_path()[f"{root.name}0.txt"].hash) == (
            f"{root.name} edit 4\n".encode()
        )


def test_adding_one_file_keeps_the_folder_snapshot(
    store: Store, tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _age(tree)
    sd.add("folder", tree, store=store)
    sd.add("one", tree / "sub" / "nested.bin", store=store)  # a snapshot of its own
    spy = Spy(monkeypatch)
    sd.add("folder", tree, store=store)
    assert (spy.stored, spy.folder_lookups) == ([], 0)
    spy.reset()
    sd.add("one", tree / "sub" / "nested.bin", store=store)
    assert (spy.stored, spy.folder_lookups) == ([], 0)
