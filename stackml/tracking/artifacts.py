"""Logging files and directories as run artifacts, and getting them back.

A directory is checked as a whole before anything is uploaded: every logical path must be
valid and no symlink may lead outside the directory, so a refused call records nothing.
Blobs are content-addressed; the artifact record points at the blob's hash.
"""

from __future__ import annotations

import json
import mimetypes
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stackml._internal.names import InvalidName, validate_relative_path
from stackml._internal.timeutil import now_ms
from stackml.errors import InvalidInput, NotFound
from stackml.store import Artifact, Store

__all__ = ["download_artifact", "log_bytes", "log_json", "log_path", "plan_upload"]

#: Above either limit, uploading a directory shows a progress bar.
PROGRESS_MIN_FILES = 50
PROGRESS_MIN_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True)
class PlannedFile:
    """One local file and the logical artifact path it will be stored under."""

    source: Path
    path: str
    size: int


def _check_path(logical: str) -> str:
    try:
        return validate_relative_path(logical)
    except InvalidName as exc:
        raise InvalidInput(str(exc)) from exc


def media_type(path: str) -> str:
    """The media type guessed from a file name (``application/octet-stream`` if unknown)."""
    guessed, _ = mimetypes.guess_type(path, strict=False)
    return guessed or "application/octet-stream"


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def plan_upload(source: str | Path, name: str | None = None) -> list[PlannedFile]:
    """Every file to upload for ``source`` with its logical path, checked before any upload.

    Raises:
        InvalidInput: ``source`` does not exist, a logical path is invalid, or a symlink in
            the directory resolves outside it or dangles.
    """
    source = Path(source)
    if not source.exists():
        raise InvalidInput(f"cannot log {str(source)!r}: no such file or directory")
    base = _check_path(name if name is not None else source.resolve().name)
    if not source.is_dir():
        return [PlannedFile(source, base, source.stat().st_size)]
    root = os.path.realpath(source)
    planned: list[PlannedFile] = []
    # Walk by real paths so a symlinked directory inside the tree is read once, and a link
    # back to an ancestor cannot loop.
    pending: list[tuple[str, str, frozenset[str]]] = [(root, base, frozenset({root}))]
    while pending:
        folder, prefix, ancestors = pending.pop()
        with os.scandir(folder) as entries:
            children = sorted(entries, key=lambda e: e.name)
        for entry in children:
            logical = _check_path(f"{prefix}/{entry.name}")
            real = os.path.realpath(entry.path)
            if entry.is_symlink():
                if not _inside(real, root):
                    raise InvalidInput(
                        f"{entry.path!r} is a symlink to {real!r}, outside {str(source)!r}; "
                        "copy the file into the directory or log it separately"
                    )
                if not os.path.exists(real):
                    raise InvalidInput(f"{entry.path!r} is a dangling symlink")
            mode = os.stat(real).st_mode
            if stat.S_ISDIR(mode):
                if real in ancestors:
                    continue  # a link back up the tree: its files are logged already
                pending.append((real, logical, ancestors | {real}))
            elif stat.S_ISREG(mode):
                planned.append(PlannedFile(Path(real), logical, os.stat(real).st_size))
            else:
                raise InvalidInput(f"{entry.path!r} is not a regular file or directory")
    planned.sort(key=lambda f: f.path)
    return planned


def log_path(
    store: Store, run_id: str, source: str | Path, name: str | None = None
) -> list[Artifact]:
    """Upload a file or directory and record one artifact per file."""
    planned = plan_upload(source, name)
    total = sum(f.size for f in planned)
    if len(planned) > PROGRESS_MIN_FILES or total > PROGRESS_MIN_BYTES:
        return _upload_with_progress(store, run_id, planned, total)
    return [_upload(store, run_id, f) for f in planned]


def _upload(store: Store, run_id: str, planned: PlannedFile) -> Artifact:
    digest = store.blobs.put_file(planned.source)
    record = Artifact(
        run_id, planned.path, digest, planned.size, media_type(planned.path), now_ms()
    )
    return store.metadata.log_artifact(record)


def _upload_with_progress(
    store: Store, run_id: str, planned: list[PlannedFile], total: int
) -> list[Artifact]:
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

    records: list[Artifact] = []
    columns = (TextColumn("[bold]uploading artifacts"), BarColumn(), DownloadColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("upload", total=total)
        for item in planned:
            records.append(_upload(store, run_id, item))
            progress.advance(task, item.size)
    return records


def log_bytes(
    store: Store, run_id: str, data: bytes, path: str, media: str | None = None
) -> Artifact:
    """Store ``data`` as artifact ``path`` of a run."""
    _check_path(path)
    digest = store.blobs.put_bytes(data)
    record = Artifact(run_id, path, digest, len(data), media or media_type(path), now_ms())
    return store.metadata.log_artifact(record)


def log_json(store: Store, run_id: str, data: Any, path: str) -> Artifact:
    """Store ``data`` as a JSON artifact ``path``."""
    try:
        text = json.dumps(data, indent=2, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"cannot store {path!r} as JSON: {exc}") from exc
    return log_bytes(store, run_id, text.encode(), path, "application/json")


def download_artifact(store: Store, run_id: str, path: str, dest: str | Path) -> Path:
    """Copy an artifact file, or every artifact under a directory path, to ``dest``.

    A single file goes to ``dest`` itself (or inside it, when ``dest`` is a directory); a
    directory's files keep their paths relative to ``path`` under ``dest``.

    Raises:
        NotFound: No artifact has that path or lies under it.
    """
    _check_path(path)
    dest = Path(dest)
    try:
        record = store.metadata.get_artifact(run_id, path)
    except NotFound:
        record = None
    if record is not None:
        target = dest / path.rsplit("/", 1)[-1] if dest.is_dir() else dest
        return store.blobs.get_file(record.blob_hash, target)
    records = [
        a
        for a in store.metadata.list_artifacts(run_id, prefix=path)
        if a.path.startswith(path + "/")
    ]
    if not records:
        raise NotFound(f"run {run_id} has no artifact at or under {path!r}")
    root = dest.resolve()
    for item in records:
        relative = _check_path(item.path[len(path) + 1 :])
        target = (root / relative).resolve()
        if not _inside(str(target), str(root)):  # defence in depth: paths are validated
            raise InvalidInput(f"artifact path {item.path!r} leaves {str(root)!r}")
        store.blobs.get_file(item.blob_hash, target)
    return dest
