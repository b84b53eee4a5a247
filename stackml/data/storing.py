"""Storing a scanned file tree: hashing and storing its files in parallel, then its manifest.

Storing runs on a thread pool: BLAKE3 and file I/O release the GIL, so local hashing uses
every core and uploads to an object store overlap. A file the hash cache vouches for is
neither read nor uploaded (see :mod:`stackml.data.hashcache` and
:mod:`stackml.data.snapshots`).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import operator
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from stackml.data.hashcache import CachedHash, HashCache
from stackml.data.ingest import LocalIngest, local_root
from stackml.data.manifest import Manifest, ManifestEntry, Progress, SourceFile, media_types
from stackml.data.snapshots import Snapshot, pack_paths, pack_stamps
from stackml.errors import InvalidInput, StackmlError, StoreUnavailable
from stackml.store.blobs.local import blob_epoch

if TYPE_CHECKING:
    from stackml.store.blobs.base import BlobStore

_REL = operator.itemgetter(0)  # SourceFile.rel
_ABSPATH = operator.itemgetter(1)  # SourceFile.abspath
_STAMP_OF = operator.itemgetter(2)  # SourceFile.stamp
_SIZE_OF = operator.attrgetter("stamp.size")
# Builds entries without a Python-level constructor call each (a tree may hold 100,000s).
_new_entry = functools.partial(tuple.__new__, ManifestEntry)


def default_workers() -> int:
    """Threads for hashing and uploads: a few per core, since both wait on I/O."""
    return min(32, (os.cpu_count() or 1) * 4)


def local_workers() -> int:
    """Threads for hashing into a local store: one per core. Creating files is kernel work
    under per-folder locks; more threads than cores only queue on them (a cold add of 10,000
    small files took a third longer with four threads per core than with one)."""
    return max(2, min(32, os.cpu_count() or 1))


class StoredTree(NamedTuple):
    """What :func:`store_tree` stored: the manifest and the hash of its blob."""

    manifest: Manifest
    manifest_hash: str


def store_tree(
    files: list[SourceFile],
    blobs: BlobStore,
    *,
    cache: HashCache | None = None,
    verify: bool = False,
    workers: int | None = None,
    progress: Progress | None = None,
    source_root: Path | None = None,
) -> StoredTree:
    """Hash and store every file (in parallel), then the manifest; durable on return.

    A file whose stamp matches the cache is neither read nor uploaded, provided its blob is
    known to be stored: in a local store, an entry recorded under the store's current epoch
    (see :func:`~stackml.store.blobs.local.blob_epoch`) needs no check; any other entry is
    checked against the store. Everything else is read once, hashed and stored on a thread
    pool. ``verify=True`` ignores the cache. ``source_root`` (the scanned folder) narrows the
    cache lookup and names the cache's snapshot of this add: a re-add of the same files reads
    that one snapshot, not a cache row per file (see :class:`~stackml.data.snapshots.Snapshot`).
    """
    root = local_root(blobs)
    ingest = LocalIngest(root) if root is not None else None
    workers = workers or (local_workers() if ingest is not None else default_workers())
    # Read before any blob is checked or written: a removal after this changes the epoch, so
    # whatever this add records is never trusted past it.
    epoch = blob_epoch(root) if root is not None else ""
    seen = _Seen.of(files, source_root) if cache is not None and files else None
    found = None
    if cache is not None and seen is not None and not verify:
        found = _look_up(cache, seen, files, epoch)

    def store_one(src: SourceFile) -> str:
        if ingest is not None:
            return ingest.put_path(src.abspath, src.stamp.size, src.stamp.mtime_ns)
        try:
            return blobs.put_file(src.abspath)
        except PermissionError as error:
            raise InvalidInput(f"{src.abspath}: cannot read ({error.strerror})") from error
        except (FileNotFoundError, IsADirectoryError) as error:
            raise InvalidInput(f"{src.abspath}: vanished while adding") from error

    def guarded(src: SourceFile) -> str:
        try:
            return store_one(src)
        except StackmlError:
            raise
        except OSError as error:  # a full or failing disk, a broken connection
            raise StoreUnavailable(
                f"{src.abspath}: could not be stored in {blobs.url} "
                f"({error.strerror or error}); no version was created, run the add again"
            ) from error

    digests, unchecked = _cache_hits(files, found, epoch)
    confirmed: list[int] = []  # cache hits found stored now, to record under this epoch
    if ingest is not None:
        for k, digest in unchecked:
            if ingest.is_stored(digest, files[k].stamp.size):
                digests[k] = digest
                confirmed.append(k)
    elif unchecked:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            present = pool.map(blobs.exists, [d for _, d in unchecked])
            for (k, digest), ok in zip(unchecked, present, strict=True):
                if ok:
                    digests[k] = digest
    misses = list(itertools.compress(range(len(files)), map(operator.not_, digests)))

    sizes = (
        seen.stamps[:, 0].tolist()
        if seen and seen.stamps is not None
        else list(map(_SIZE_OF, files))
    )
    total_bytes = sum(sizes)
    done_files = len(files) - len(misses)
    done_bytes = total_bytes - sum(sizes[k] for k in misses)
    if progress is not None and done_files:
        progress(done_files, done_bytes, len(files), total_bytes)
    if misses:
        # Misses go to the pool in batches: one future per file would cost more than hashing
        # a small file. Batches stay small enough to balance the load and move the bar.
        size = max(1, min(64, len(misses) // (workers * 4) or 1))
        chunks = [misses[k : k + size] for k in range(0, len(misses), size)]

        def store_chunk(chunk: list[int]) -> list[str]:
            return [guarded(files[k]) for k in chunk]

        with contextlib.ExitStack() as stack:
            results: Iterator[list[str]]
            if len(chunks) > 1:
                pool = stack.enter_context(ThreadPoolExecutor(max_workers=workers))
                results = pool.map(store_chunk, chunks)
            else:  # one batch (a re-add that changed a few files): no threads to start
                results = map(store_chunk, chunks)
            for chunk, hashed in zip(chunks, results, strict=True):
                for k, digest in zip(chunk, hashed, strict=True):
                    digests[k] = digest
                done_files += len(chunk)
                done_bytes += sum(sizes[k] for k in chunk)
                if progress is not None:
                    progress(done_files, done_bytes, len(files), total_bytes)
    rels = list(map(_REL, files))
    manifest = Manifest(
        tuple(map(_new_entry, zip(rels, digests, sizes, media_types(rels), strict=True)))
    )
    data = manifest.to_bytes()
    if ingest is not None:
        manifest_hash = ingest.put_bytes(data)
        ingest.sync()  # one flush for every new blob, before any row can refer to them
    else:
        manifest_hash = blobs.put_bytes(data)
    if cache is not None:
        fresh = [*misses, *confirmed] if epoch else misses
        if fresh:
            cache.store(
                ((files[k].abspath, files[k].stamp, digests[k]) for k in fresh), epoch=epoch
            )
        if seen is not None and seen.stamps is not None:
            previous = found.snapshot if found is not None else None
            dirty = None
            if found is not None and found.rest is not None:
                # Every other file's hash is the one the snapshot holds.
                dirty = sorted({*found.rest, *misses})
            cache.store_snapshot(
                seen.root,
                seen.paths,
                seen.stamps,
                digests,
                epoch=epoch,
                previous=previous,
                dirty=dirty,
            )
    return StoredTree(manifest, manifest_hash)


class _Seen(NamedTuple):
    """A scan packed for the hash cache's snapshot of what was added."""

    root: Path  # what was added (a folder or one file): the snapshot's key
    folder: Path  # the folder holding it: where the per-file rows are looked up
    paths: bytes
    stamps: np.ndarray | None  # None: a stamp does not fit in int64

    @classmethod
    def of(cls, files: list[SourceFile], source_root: Path | None) -> _Seen:
        root = source_root or Path(os.path.commonpath([f.abspath for f in files]))
        folder = root if root.is_dir() else root.parent
        stamps = pack_stamps(itertools.chain.from_iterable(map(_STAMP_OF, files)), len(files))
        return cls(root, folder, pack_paths(map(_ABSPATH, files)), stamps)


class _Found(NamedTuple):
    """What the hash cache knows of a scan."""

    entries: dict[str, CachedHash]  # per-file rows of the files in ``rest``
    rest: list[int] | None  # the files the snapshot does not vouch for (None: every file)
    same: np.ndarray | None  # per file: the snapshot's stamp matches (None: no snapshot)
    known: list[str]  # the snapshot's hash of each file ([] without a usable snapshot)
    trusted: bool  # the snapshot's epoch is the store's: its blobs need no check
    snapshot: Snapshot | None  # the snapshot used, if any


def _look_up(cache: HashCache, seen: _Seen, files: list[SourceFile], epoch: str) -> _Found:
    """What the snapshot of ``seen.root`` vouches for (one row read, stamps compared at once;
    files matched by path if the list of files changed), and per-file rows for the rest."""
    snap = cache.snapshot(seen.root) if seen.stamps is not None else None
    if snap is None:
        return _Found(cache.lookup_under(seen.folder), None, None, [], False, None)
    if snap.paths == seen.paths:
        same = (snap.stamps == seen.stamps).all(axis=1)
        known = snap.hashes()
    else:  # files were added or removed: match the snapshot's files by path
        index = snap.index_of(map(_ABSPATH, files), len(files))
        listed = index >= 0
        at = np.where(listed, index, 0)
        same = listed & (snap.stamps[at] == seen.stamps).all(axis=1)
        known = snap.hashes(at)
    rest = np.flatnonzero(~same).tolist()
    if len(rest) > max(1000, len(files) // 4):  # one query for the folder beats many
        entries = cache.lookup_under(seen.folder)
    else:
        entries = cache.lookup([files[k].abspath for k in rest])
    trusted = bool(epoch) and snap.epoch == epoch
    return _Found(entries, rest, same, known, trusted, snap)


def _cache_hits(
    files: list[SourceFile], found: _Found | None, epoch: str
) -> tuple[list[str], list[tuple[int, str]]]:
    """Hashes known without reading (trusted), and cache hits whose blob must be looked for
    (``(index, hash)``)."""
    if found is None:
        return [""] * len(files), []
    unchecked: list[tuple[int, str]] = []
    rest: Iterable[int] = range(len(files)) if found.rest is None else found.rest
    if found.same is None:
        digests = [""] * len(files)
    elif found.trusted:
        digests = found.known
        for k in rest:
            digests[k] = ""
    else:
        digests = [""] * len(files)
        known = found.known
        unchecked = [(k, known[k]) for k in np.flatnonzero(found.same).tolist()]
    cached = found.entries
    for k in rest:
        f = files[k]
        hit = cached.get(f.abspath)
        # hit[1:4] is (size, mtime_ns, inode): compared as one tuple, cheapest per file.
        if hit is not None and hit[1:4] == f.stamp:
            if epoch and hit.epoch == epoch:
                digests[k] = hit.hash
            else:
                unchecked.append((k, hit.hash))
    return digests, unchecked
