"""The fast local path of ``add``: the store epoch behind the hash cache, torn blobs, the
single flush before the version row, and the manifest's canonical bytes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import stackml.data as sd
from stackml._internal.hashing import hash_bytes
from stackml.data.ingest import LocalIngest
from stackml.data.manifest import Manifest, ManifestEntry, media_type, media_types
from stackml.errors import InvalidInput
from stackml.store import Store
from stackml.store.blobs.local import LocalBlobStore, blob_epoch
from stackml.store.datasets_base import VersionDraft


@pytest.fixture(autouse=True)
def _own_hash_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def _age(tree: Path) -> None:
    """Backdate every file, so the hash cache keeps them (it skips racy, fresh mtimes)."""
    for path in tree.rglob("*"):
        if path.is_file():
            st = path.stat()
            os.utime(path, ns=(st.st_atime_ns - 10**10, st.st_mtime_ns - 10**10))


def test_removing_blobs_changes_the_epoch(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path / "blobs")
    first = blob_epoch(blobs.root)
    assert blob_epoch(blobs.root) == first  # stable while nothing is removed
    keep = blobs.put_bytes(b"keep")
    gone = blobs.put_bytes(b"gone")
    assert blob_epoch(blobs.root) == first  # writes never change it
    blobs.delete(gone)
    second = blob_epoch(blobs.root)
    assert second != first
    blobs.quarantine(keep)
    assert blob_epoch(blobs.root) not in (first, second)


def test_cache_hits_under_the_same_epoch_skip_the_store(store: Store, tree: Path) -> None:
    _age(tree)
    assert isinstance(store.blobs, LocalBlobStore)
    first = sd.add("e", tree, store=store)
    digest = sd.get("e", store=store).manifest.by_path()["f3.txt"].hash
    # Removed behind stackml's back (no epoch change): the cache is trusted, so this add
    # does not notice; that is what --verify and `stackml fsck` are for.
    os.unlink(store.blobs.path_of(digest))
    trusted = sd.add("e", tree, store=store)
    assert trusted.manifest_hash == first.manifest_hash
    assert not store.blobs.exists(digest)
    sd.add("e", tree, store=store, verify=True)
    assert store.blobs.exists(digest) and store.blobs.verify(digest)


def test_gc_of_a_cached_blob_is_noticed(store: Store, tree: Path) -> None:
    _age(tree)
    sd.add("g", tree, store=store)
    digest = sd.get("g", store=store).manifest.by_path()["f4.txt"].hash
    store.blobs.quarantine(digest)  # as `stackml fsck --quarantine` does
    again = sd.add("g", tree, store=store)
    assert store.blobs.verify(digest)
    assert sd.get("g", again.id, store=store).manifest.by_path()["f4.txt"].hash == digest


def test_a_torn_blob_is_written_again(store: Store, tmp_path: Path) -> None:
    assert isinstance(store.blobs, LocalBlobStore)
    data = os.urandom(50_000)
    digest = hash_bytes(data)
    src = tmp_path / "src" / "weights.bin"
    src.parent.mkdir()
    src.write_bytes(data)
    # What a crash before the flush can leave: the address exists, the content is cut short.
    torn = store.blobs.path_of(digest)
    torn.parent.mkdir(parents=True, exist_ok=True)
    torn.write_bytes(data[:4096])
    version = sd.add("t", src.parent, store=store)
    assert store.blobs.verify(digest)
    assert version.num_files == 1 and torn.read_bytes() == data


def test_ingest_stores_bytes_once_and_syncs(store: Store) -> None:
    assert isinstance(store.blobs, LocalBlobStore)
    ingest = LocalIngest(store.blobs.root)
    digests = {ingest.put_bytes(b"manifest"), ingest.put_bytes(b"manifest")}
    assert digests == {hash_bytes(b"manifest")}
    ingest.sync()
    assert store.blobs.get_bytes(hash_bytes(b"manifest")) == b"manifest"
    assert list((store.blobs.root / "tmp").iterdir()) == []


@pytest.mark.skipif(not getattr(os, "O_TMPFILE", 0), reason="needs O_TMPFILE (Linux)")
def test_small_blobs_are_linked_into_place_without_a_rename(
    store: Store, tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert isinstance(store.blobs, LocalBlobStore)

    def no_temp_name(self: LocalIngest) -> str:
        raise AssertionError("a small blob went through tmp/ and a rename")

    monkeypatch.setattr(LocalIngest, "_temp", no_temp_name)
    version = sd.add("linked", tree, store=store)
    for entry in sd.get("linked", version.id, store=store).manifest.entries:
        assert store.blobs.verify(entry.hash)
    assert list((store.blobs.root / "tmp").iterdir()) == []


def test_without_o_tmpfile_blobs_go_through_tmp_and_a_rename(
    store: Store, tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file system that refuses unnamed files (EOPNOTSUPP) gets the portable path."""
    import errno

    import stackml.data.ingest as ingest_module

    real_open = os.open
    refused: list[str] = []

    def open_without_tmpfile(path: str, flags: int, *args: object, **kwargs: object) -> int:
        tmpfile = getattr(os, "O_TMPFILE", 0)
        if tmpfile and flags & tmpfile == tmpfile:
            refused.append(path)
            raise OSError(errno.EOPNOTSUPP, "Operation not supported", path)
        return real_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ingest_module.os, "open", open_without_tmpfile)
    renamed: list[str] = []
    temp_name = LocalIngest._temp
    monkeypatch.setattr(LocalIngest, "_temp", lambda self: renamed.append("x") or temp_name(self))
    version = sd.add("portable", tree, store=store)
    assert len(refused) == (1 if getattr(os, "O_TMPFILE", 0) else 0)  # asked once at most
    assert len(renamed) == 7  # six files and the manifest
    for entry in sd.get("portable", version.id, store=store).manifest.entries:
        assert store.blobs.verify(entry.hash)
    assert list((store.blobs.root / "tmp").iterdir()) == []


TRICKY_NAMES = [
    "a.txt",
    "dir/b.PNG",
    "with space.json",
    'quote".txt',
    "back\\slash",
    "é.txt",
    "tab\tname",
    ".bashrc",
    "x/..txt",
    "a..txt",
    "d.e/f",
    "z.",
    "f.tar.gz",
    "noext",
    "a+b=c@d,(e)[f].csv",
]


def _canonical(entries: tuple[ManifestEntry, ...]) -> bytes:
    files = [[e.path, e.hash, e.size, e.media_type] for e in entries]
    return json.dumps({"format": 1, "files": files}, separators=(",", ":"), sort_keys=True).encode()


def test_manifest_bytes_are_canonical_json_for_any_name() -> None:
    entries = tuple(
        ManifestEntry(name, hash_bytes(name.encode()), size, media_type(name))
        for size, name in enumerate(TRICKY_NAMES)
    )
    for entry in entries:
        assert Manifest((entry,)).to_bytes() == _canonical((entry,))
    assert Manifest(entries).to_bytes() == _canonical(entries)
    assert Manifest(()).to_bytes() == _canonical(())
    assert Manifest.from_bytes(Manifest(entries[:3]).to_bytes()).entries == entries[:3]


def test_media_types_agree_with_media_type_in_any_order() -> None:
    names = [*TRICKY_NAMES, "q/.txt", "..txt", "c", "README", "z.TXT", "a.b/c.png"]
    for shift in range(len(names)):
        order = names[shift:] + names[:shift]
        assert media_types(order) == [media_type(n) for n in order]


def test_a_version_naming_a_malformed_blob_hash_is_refused(store: Store) -> None:
    good = hash_bytes(b"x")
    for bad in ("A" * 64, good[:63], good + "0", "g" * 64):
        draft = VersionDraft(
            dataset="bad",
            kind="files",
            manifest_hash=good,
            table_hash=None,
            blob_hashes=(good, bad),
            num_files=2,
            num_rows=None,
            size_bytes=2,
            message="",
            author="me",
        )
        with pytest.raises(InvalidInput, match="is not a blob hash"):
            store.metadata.create_dataset_version(draft)
