"""Writing a version's files (and table) into a folder: ``stackml data get``.

Every blob is verified against its hash on the way out, so a corrupt blob stops ``get`` with
an :class:`~stackml.errors.IntegrityError` naming the file. Every manifest path is validated
again and the resolved target must lie inside the destination, so a crafted manifest cannot
write elsewhere.

Copies are the default: a materialised file is the user's to edit. With ``link=True`` and a
local blob store, files are reflinked (copy-on-write, where the file system supports it) or
else hardlinked; a hardlink shares its inode with the stored blob, so linked files are made
read-only and an edit fails instead of corrupting the store (a user who forces a write
through anyway is caught by the hash check of the next ``get`` and by ``stackml fsck``).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from stackml.data.ingest import LocalIngest, local_root
from stackml.data.manifest import Manifest, ManifestEntry, Progress, safe_path
from stackml.data.storing import default_workers, local_workers
from stackml.errors import IntegrityError, InvalidInput

if TYPE_CHECKING:
    from stackml.store.blobs.base import BlobStore
    from stackml.store.datasets_base import DatasetVersion

TABLE_FILE = "table.parquet"
MARKER = ".stackml-version"
_FICLONE = 0x40049409  # Linux ioctl: clone a file's extents (reflink)
_READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
_PROGRESS_EVERY = 64


def load_manifest(blobs: BlobStore, version: DatasetVersion) -> Manifest:
    """The version's manifest (empty for a pure table)."""
    if version.manifest_hash is None:
        return Manifest(())
    try:
        return Manifest.from_bytes(blobs.get_bytes(version.manifest_hash))
    except IntegrityError as error:
        raise IntegrityError(
            f"the manifest of {version.label} is corrupt in the blob store; run `stackml fsck`"
        ) from error


def _targets(
    dest: Path, entries: tuple[ManifestEntry, ...]
) -> tuple[list[tuple[Path, ManifestEntry]], list[Path]]:
    """Each entry's target path, and the folders to create (parents first).

    Every path is validated; each distinct folder is resolved once (not once per file) and
    must lie inside ``dest``.
    """
    folders: dict[str, Path] = {}
    targets = []
    for entry in entries:
        folder_rel, _, name = safe_path(entry.path).rpartition("/")
        folder = folders.get(folder_rel)
        if folder is None:
            folder = dest / folder_rel if folder_rel else dest
            resolved = folder.resolve()
            if resolved != dest and dest not in resolved.parents:
                raise InvalidInput(
                    f"dataset file path {entry.path!r} would leave the destination folder"
                )
            folders[folder_rel] = folder
        targets.append((folder / name, entry))
    return targets, sorted(folders.values())


def _reflink(src: Path, dest: Path) -> bool:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on Windows
        return False
    with open(src, "rb") as fin, open(dest, "wb") as fout:
        try:
            fcntl.ioctl(fout.fileno(), _FICLONE, fin.fileno())
            return True
        except OSError:
            pass
    dest.unlink(missing_ok=True)
    return False


def _link(blobs: BlobStore, entry: ManifestEntry, target: Path) -> bool:
    """Reflink or hardlink a verified local blob; ``False`` when neither is possible."""
    path_of = getattr(blobs, "path_of", None)
    if path_of is None:
        return False
    if not blobs.verify(entry.hash):
        raise IntegrityError(f"{entry.path}: its stored blob {entry.hash[:12]} is corrupt")
    src = Path(path_of(entry.hash))
    if _reflink(src, target):
        return True
    try:
        os.link(src, target)
    except OSError as error:
        if error.errno in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            return False
        raise
    # The inode is the stored blob's: make it read-only so an edit cannot corrupt the store.
    with contextlib.suppress(OSError):
        os.chmod(target, _READ_ONLY)
    return True


def materialize(
    blobs: BlobStore,
    version: DatasetVersion,
    dest: str | Path,
    *,
    link: bool = False,
    workers: int | None = None,
    progress: Progress | None = None,
) -> Path:
    """Write a version into ``dest`` (which must be missing or empty) and return it."""
    dest = Path(dest).absolute()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise InvalidInput(f"{dest}: destination must be a missing or empty folder")
    dest.mkdir(parents=True, exist_ok=True)
    dest = dest.resolve()
    manifest = load_manifest(blobs, version)
    targets, folders = _targets(dest, manifest.entries)
    if version.table_hash and any(e.path == TABLE_FILE for e in manifest.entries):
        raise InvalidInput(
            f"{version.label} has a file named {TABLE_FILE}; it clashes with its table"
        )

    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
    root = local_root(blobs)
    ingest = LocalIngest(root) if root is not None else None

    def one(item: tuple[Path, ManifestEntry]) -> int:
        target, entry = item
        if link and _link(blobs, entry, target):
            return entry.size
        if ingest is not None:
            ingest.get_to(entry.hash, entry.size, target, entry.path)
            return entry.size
        try:
            blobs.get_file(entry.hash, target)
        except IntegrityError as error:
            raise IntegrityError(
                f"{entry.path}: its stored blob {entry.hash[:12]} is corrupt; "
                "run `stackml fsck` to find damaged blobs"
            ) from error
        return entry.size

    done_files = done_bytes = 0
    total = manifest.size_bytes
    workers = workers or (local_workers() if ingest is not None else default_workers())
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for size in pool.map(one, targets):
            done_files += 1
            done_bytes += size
            # In batches: redrawing a bar per file would cost more than a small file's copy.
            if progress is not None and (
                done_files % _PROGRESS_EVERY == 0 or done_files == len(targets)
            ):
                progress(done_files, done_bytes, len(targets), total)
    if version.table_hash:
        blobs.get_file(version.table_hash, dest / TABLE_FILE)
    marker = {"dataset": version.dataset, "id": version.id, "number": version.number}
    (dest / MARKER).write_text(json.dumps(marker))
    return dest


def is_materialized(dest: Path, version: DatasetVersion) -> bool:
    """Whether ``dest`` already holds this version (written completely by :func:`materialize`)."""
    try:
        marker = json.loads((dest / MARKER).read_text())
    except (OSError, ValueError):
        return False
    return bool(marker.get("id") == version.id)


def remove_tree(path: Path) -> None:
    """Delete a materialised folder (its read-only files go too: unlinking needs only a
    writable folder)."""
    shutil.rmtree(path)
