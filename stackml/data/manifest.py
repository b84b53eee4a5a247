"""File-tree manifests: scanning a folder, hashing and storing its files in parallel.

A manifest lists every file of a version as ``path -> (blob hash, size, media type)``,
sorted by path; it is stored as a blob itself (canonical JSON), so identical trees share a
manifest. Paths are POSIX, relative, and pass
:func:`stackml._internal.names.validate_relative_path`, both when a tree is scanned and when
a manifest is read back, so a crafted manifest cannot write outside a destination folder.

Storing runs on a thread pool: BLAKE3 and file I/O release the GIL, so local hashing uses
every core and uploads to an object store overlap. Symlinks are refused unless
``follow_symlinks=True``, in which case the target's content is stored (never the link).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import mimetypes
import operator
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from stackml._internal.names import MAX_PATH, InvalidName, validate_relative_path
from stackml.data.hashcache import (
    CachedHash,
    FileStamp,
    HashCache,
    Snapshot,
    pack_paths,
    pack_stamps,
)
from stackml.data.ingest import LocalIngest, local_root
from stackml.errors import InvalidInput, StackmlError, StoreUnavailable
from stackml.store.blobs.local import blob_epoch

if TYPE_CHECKING:
    from stackml.store.blobs.base import BlobStore

MANIFEST_FORMAT = 1
#: Called with (files done, bytes done, files in all, bytes in all) as files are stored.
Progress = Callable[[int, int, int, int], None]


class ManifestEntry(NamedTuple):
    """One file of a version."""

    path: str
    hash: str
    size: int
    media_type: str


# Text JSON writes as is (printable ASCII but '"' and '\\'), and one manifest row.
_JSON_PLAIN = re.compile(r"[ !#-\[\]-~]*")
_ROW = '["%s","%s",%d,"%s"]'
_SIZE = operator.itemgetter(2)  # ManifestEntry.size, for map()
_REL = operator.itemgetter(0)  # SourceFile.rel
_ABSPATH = operator.itemgetter(1)  # SourceFile.abspath
_STAMP_OF = operator.itemgetter(2)  # SourceFile.stamp
_SIZE_OF = operator.attrgetter("stamp.size")
# Builds entries without a Python-level constructor call each (a tree may hold 100,000s).
_new_entry = functools.partial(tuple.__new__, ManifestEntry)


@dataclass(frozen=True)
class Manifest:
    """The files of a version, sorted by path."""

    entries: tuple[ManifestEntry, ...]

    @property
    def size_bytes(self) -> int:
        """Bytes of every file together."""
        return sum(map(_SIZE, self.entries))

    def by_path(self) -> dict[str, ManifestEntry]:
        return {e.path: e for e in self.entries}

    def to_bytes(self) -> bytes:
        """Canonical JSON: the same tree always gives the same bytes."""
        entries = self.entries
        if set(map(type, map(_SIZE, entries))) <= {int}:
            rows = ",".join(map(_ROW.__mod__, entries))
            # When no text needed escaping (printable ASCII, no backslash, no quote but the
            # six per row), these are byte for byte the bytes json.dumps writes below, made
            # several times faster for a tree of 10,000s of files.
            if (
                rows.isascii()
                and rows.isprintable()
                and "\\" not in rows
                and rows.count('"') == 6 * len(entries)
            ):
                return f'{{"files":[{rows}],"format":{MANIFEST_FORMAT}}}'.encode()
        files = [[e.path, e.hash, e.size, e.media_type] for e in entries]
        doc = {"format": MANIFEST_FORMAT, "files": files}
        return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        """Parse and validate a stored manifest. Raises ``InvalidInput`` if it is malformed."""
        try:
            doc = json.loads(data)
            rows = doc["files"]
            entries = tuple(ManifestEntry(str(p), str(h), int(s), str(m)) for p, h, s, m in rows)
        except (ValueError, KeyError, TypeError) as error:
            raise InvalidInput(f"malformed dataset manifest: {error}") from error
        for entry in entries:
            safe_path(entry.path)
        return cls(entries)


def safe_path(path: str) -> str:
    """Refuse manifest paths that are absolute, contain ``..`` or odd characters."""
    try:
        return validate_relative_path(path, what="dataset file path")
    except InvalidName as error:
        raise InvalidInput(str(error)) from error


class SourceFile(NamedTuple):
    """A file found under the source folder."""

    rel: str
    abspath: str
    stamp: FileStamp


_NAME = operator.attrgetter("name")
# Without a Python-level constructor call per file: a scan may list 100,000s.
_new_source = functools.partial(tuple.__new__, SourceFile)
_new_stamp = functools.partial(tuple.__new__, FileStamp)

# Names that need no closer look: ASCII, not starting with a dot, within the length limit. A
# strict subset of what validate_relative_path accepts; anything else gets the full check.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-+=@,()\[\]]{0,254}")


def _fine_name(name: str) -> bool:
    return _PLAIN_NAME.fullmatch(name) is not None or _fine_segment(name)


def scan(root: Path, *, follow_symlinks: bool = False) -> list[SourceFile]:
    """Every regular file under ``root``, sorted by relative path (folder by folder).

    One ``scandir`` per folder and one ``lstat`` per file (a ``stat`` for followed links).
    Raises ``InvalidInput`` naming the path for a symlink (unless followed), a special file
    (FIFO, socket, device) or a name that is not a valid dataset path.
    """
    root = root.absolute()
    if root.is_file():
        info = root.stat()
        return [SourceFile(safe_path(root.name), str(root), FileStamp.of(info))]
    if not root.is_dir():
        raise InvalidInput(f"{root}: no such file or folder")
    found: list[SourceFile] = []
    seen_dirs: set[tuple[int, int]] = set()
    plain = _PLAIN_NAME.fullmatch

    def walk(folder: str, prefix: str, prefix_ok: bool) -> None:
        st = os.stat(folder)
        if (st.st_dev, st.st_ino) in seen_dirs:
            raise InvalidInput(f"{folder}: symlink loop; refusing to add it twice")
        seen_dirs.add((st.st_dev, st.st_ino))
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=_NAME)
        except PermissionError as error:
            raise InvalidInput(f"{folder}: cannot list the folder ({error.strerror})") from error
        if prefix_ok and _plain_files(entries, prefix, found):
            return
        for entry in entries:
            name = entry.name
            try:
                if entry.is_symlink():
                    if not follow_symlinks:
                        raise InvalidInput(
                            f"{entry.path}: is a symlink; pass --follow-symlinks to store its "
                            "target's content, or remove it"
                        )
                    info = os.stat(entry.path)
                else:
                    info = entry.stat(follow_symlinks=False)
            except OSError as error:
                raise InvalidInput(f"{entry.path}: cannot read ({error.strerror})") from error
            mode = info.st_mode
            if stat.S_ISREG(mode):
                rel = prefix + name
                # The prefix was checked once for the folder; only the name is checked here.
                ok = (
                    prefix_ok
                    and len(rel) <= MAX_PATH
                    and (plain(name) is not None or _fine_segment(name))
                )
                stamp = _new_stamp((info.st_size, info.st_mtime_ns, info.st_ino))
                found.append(_new_source((rel if ok else safe_path(rel), entry.path, stamp)))
            elif stat.S_ISDIR(mode):
                # An odd folder name is refused only if the folder holds a file, naming it.
                walk(entry.path, f"{prefix}{name}/", prefix_ok and _fine_name(name))
            else:
                raise InvalidInput(f"{entry.path}: not a regular file (FIFO, socket or device)")

    walk(str(root), "", True)
    return found


def _plain_files(entries: list[os.DirEntry[str]], prefix: str, found: list[SourceFile]) -> bool:
    """List a folder holding only regular files with plain names, without a Python step per
    file (the common case, most of a re-add's cost otherwise); ``False`` to take the general
    path, which also names whatever is wrong."""
    if not entries or any(map(_IS_LINK, entries)):
        return False
    names = list(map(_NAME, entries))
    if len(prefix) + max(map(len, names)) > MAX_PATH or not _PLAIN_NAMES.fullmatch(
        "/".join(names)  # "/" never occurs in a name
    ):
        return False
    try:
        infos = list(map(_LSTAT, entries))  # one lstat each, as the general path does
    except OSError:
        return False
    if set(map(stat.S_IFMT, map(_MODE, infos))) != {stat.S_IFREG}:
        return False
    stamps = map(_new_stamp, map(_STAMP, infos))
    found.extend(
        map(_new_source, zip(map(prefix.__add__, names), map(_PATH, entries), stamps, strict=True))
    )
    return True


_IS_LINK = os.DirEntry.is_symlink
_LSTAT = operator.methodcaller("stat", follow_symlinks=False)
_MODE = operator.attrgetter("st_mode")
_PATH = operator.attrgetter("path")
_STAMP = operator.attrgetter("st_size", "st_mtime_ns", "st_ino")
_PLAIN_NAMES = re.compile(rf"{_PLAIN_NAME.pattern}(?:/{_PLAIN_NAME.pattern})*")


def _fine_segment(rel: str) -> bool:
    """Whether the last segment of ``rel`` is a valid path segment on its own."""
    try:
        validate_relative_path(rel.rpartition("/")[2])
    except InvalidName:
        return False
    return True


def media_types(paths: list[str]) -> list[str]:
    """:func:`media_type` of each path, looking each kind of name ending up once."""
    known: dict[str, str] = {}

    def look_up(path: str, key: str) -> str:
        kind = media_type(path)
        # The last dot and the character before it decide the type, except after another dot
        # ("a..txt" has a suffix, "dir/..txt" has none).
        if not key.startswith("."):
            known[key] = kind
        return kind

    return [known.get(key := path[path.rfind(".") - 1 :]) or look_up(path, key) for path in paths]


def media_type(path: str) -> str:
    """A file's media type guessed from its name."""
    # What os.path.splitext gives, without its cost per file: leading dots start no suffix.
    stem = path.rpartition("/")[2].lstrip(".")
    dot = stem.rfind(".")
    return _media_type_of_suffix(stem[dot:].lower() if dot >= 0 else "")


@functools.lru_cache(maxsize=1024)
def _media_type_of_suffix(suffix: str) -> str:
    return mimetypes.guess_type(f"file{suffix}")[0] or "application/octet-stream"


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
    that one snapshot, not a cache row per file (see :class:`~stackml.data.hashcache.Snapshot`).
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
