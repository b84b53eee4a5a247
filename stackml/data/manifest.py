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

import functools
import json
import mimetypes
import os
import stat
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from stackml._internal.names import MAX_PATH, InvalidName, validate_relative_path
from stackml.data.hashcache import FileStamp, HashCache
from stackml.data.ingest import LocalIngest, local_root, sync_store
from stackml.errors import InvalidInput, StackmlError, StoreUnavailable

if TYPE_CHECKING:
    from stackml.store.blobs.base import BlobStore

MANIFEST_FORMAT = 1
#: Called with (files done, bytes done, files in all, bytes in all) as files are stored.
Progress = Callable[[int, int, int, int], None]


@dataclass(frozen=True)
class ManifestEntry:
    """One file of a version."""

    path: str
    hash: str
    size: int
    media_type: str


@dataclass(frozen=True)
class Manifest:
    """The files of a version, sorted by path."""

    entries: tuple[ManifestEntry, ...]

    @property
    def size_bytes(self) -> int:
        return sum(e.size for e in self.entries)

    def by_path(self) -> dict[str, ManifestEntry]:
        return {e.path: e for e in self.entries}

    def to_bytes(self) -> bytes:
        """Canonical JSON: the same tree always gives the same bytes."""
        files = [[e.path, e.hash, e.size, e.media_type] for e in self.entries]
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


@dataclass(frozen=True)
class SourceFile:
    """A file found under the source folder."""

    rel: str
    abspath: str
    stamp: FileStamp


def scan(root: Path, *, follow_symlinks: bool = False) -> list[SourceFile]:
    """Every regular file under ``root``, sorted by relative path.

    Raises ``InvalidInput`` naming the path for a symlink (unless followed), a special file
    (FIFO, socket, device) or a name that is not a valid dataset path.
    """
    root = root.absolute()
    found: list[SourceFile] = []
    seen_dirs: set[tuple[int, int]] = set()

    def walk(folder: Path, prefix: str, prefix_ok: bool) -> Iterator[SourceFile]:
        st = folder.stat()
        if (st.st_dev, st.st_ino) in seen_dirs:
            raise InvalidInput(f"{folder}: symlink loop; refusing to add it twice")
        seen_dirs.add((st.st_dev, st.st_ino))
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except PermissionError as error:
            raise InvalidInput(f"{folder}: cannot list the folder ({error.strerror})") from error
        for entry in entries:
            rel = f"{prefix}{entry.name}"
            if entry.is_symlink() and not follow_symlinks:
                raise InvalidInput(
                    f"{entry.path}: is a symlink; pass --follow-symlinks to store its target's "
                    "content, or remove it"
                )
            try:
                info = os.stat(entry.path)  # follows the link when allowed
            except OSError as error:
                raise InvalidInput(f"{entry.path}: cannot read ({error.strerror})") from error
            if stat.S_ISDIR(info.st_mode):
                # An odd folder name is refused only if the folder holds a file, naming it.
                yield from walk(Path(entry.path), rel + "/", prefix_ok and _fine_segment(rel))
            elif stat.S_ISREG(info.st_mode):
                # The prefix was checked once for the folder; only the name is checked here.
                ok = prefix_ok and _fine_segment(rel) and len(rel) <= MAX_PATH
                yield SourceFile(rel if ok else safe_path(rel), entry.path, FileStamp.of(info))
            else:
                raise InvalidInput(f"{entry.path}: not a regular file (FIFO, socket or device)")

    if root.is_file():
        info = root.stat()
        return [SourceFile(safe_path(root.name), str(root), FileStamp.of(info))]
    if not root.is_dir():
        raise InvalidInput(f"{root}: no such file or folder")
    found.extend(walk(root, "", True))
    return found


def _fine_segment(rel: str) -> bool:
    """Whether the last segment of ``rel`` is a valid path segment on its own."""
    try:
        validate_relative_path(rel.rpartition("/")[2])
    except InvalidName:
        return False
    return True


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


def store_files(
    files: list[SourceFile],
    blobs: BlobStore,
    *,
    cache: HashCache | None = None,
    verify: bool = False,
    workers: int | None = None,
    progress: Progress | None = None,
    source_root: Path | None = None,
) -> Manifest:
    """Hash and store every file (in parallel) and return the manifest.

    A file whose stamp matches the cache and whose blob is already stored is neither read
    nor uploaded. Everything else is read once, hashed and stored on a thread pool.
    ``source_root`` (the scanned folder) narrows the cache lookup.
    """
    workers = workers or default_workers()
    cached: dict[str, tuple[FileStamp, str]] = {}
    if cache is not None and not verify and files:
        folder = source_root or Path(os.path.commonpath([f.abspath for f in files]))
        cached = cache.lookup_under(folder if folder.is_dir() else folder.parent)

    root = local_root(blobs)
    ingest = LocalIngest(root) if root is not None else None

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

    # Cache hits: a matching stamp is trusted only while its blob is still stored. Local
    # checks are one lstat each, cheaper inline than on the pool; remote ones go to the pool.
    digests: dict[int, str] = {}
    candidates = [
        (k, hit[1])
        for k, f in enumerate(files)
        if (hit := cached.get(f.abspath)) is not None and hit[0] == f.stamp
    ]
    if ingest is not None:
        digests.update((k, d) for k, d in candidates if ingest.exists(d))
    elif candidates:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            present = pool.map(blobs.exists, [d for _, d in candidates])
            digests.update((k, d) for (k, d), ok in zip(candidates, present, strict=True) if ok)
    misses = [k for k in range(len(files)) if k not in digests]

    total_bytes = sum(f.stamp.size for f in files)
    done_bytes = sum(files[k].stamp.size for k in digests)
    if progress is not None and digests:
        progress(len(digests), done_bytes, len(files), total_bytes)
    # Misses go to the pool in batches: one future per file would cost more than hashing a
    # small file. Batches stay small enough to balance the load and move the progress bar.
    size = max(1, min(64, len(misses) // (workers * 4) or 1))
    chunks = [misses[k : k + size] for k in range(0, len(misses), size)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = pool.map(lambda chunk: [guarded(files[k]) for k in chunk], chunks)
        for chunk, found in zip(chunks, results, strict=True):
            digests.update(zip(chunk, found, strict=True))
            done_bytes += sum(files[k].stamp.size for k in chunk)
            if progress is not None:
                progress(len(digests), done_bytes, len(files), total_bytes)
    if root is not None and misses:
        sync_store(root)  # one flush for every new blob, before any row can refer to them
    if cache is not None and misses:
        cache.store((files[k].abspath, files[k].stamp, digests[k]) for k in misses)
    return Manifest(
        tuple(
            ManifestEntry(f.rel, digests[k], f.stamp.size, media_type(f.rel))
            for k, f in enumerate(files)
        )
    )
