"""Store maintenance: garbage collection (``stackml gc``) and verification (``stackml fsck``).

Both work on any :class:`~stackml.store.base.MetadataStore` and
:class:`~stackml.store.blobs.base.BlobStore` pair and report through an optional ``progress``
callback ``(advance, total)`` so that a command line can draw a progress bar.

Why gc needs a grace period: a writer stores its blob first and records the row that refers to
it afterwards, so for a moment a blob in use has no row. gc therefore never deletes a blob
younger than ``grace_seconds`` (or one whose age the store can't tell).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from stackml.errors import IntegrityError, InvalidInput, NotFound
from stackml.store.base import MetadataStore
from stackml.store.blobs.base import BlobStore

__all__ = ["FsckReport", "GcReport", "Progress", "check_blobs", "collect_garbage"]

#: ``progress(advance, total)``: ``advance`` items done since the last call; ``total`` if known.
Progress = Callable[[int, "int | None"], None]


@dataclass(frozen=True)
class GcReport:
    """What ``collect_garbage`` found and did.

    Attributes:
        scanned: Blobs in the store when gc started.
        referenced: Of those, how many some row refers to (always kept).
        deleted: Unreferenced blobs past the grace period: deleted, or that would be in a
            dry run.
        spared: Unreferenced blobs kept because they are younger than the grace period.
        bytes_freed: Total size of ``deleted`` (what a dry run would free).
        dry_run: Whether nothing was actually deleted.
        temp_removed: Abandoned partial writes (older than the grace period) removed.
    """

    scanned: int
    referenced: int
    deleted: tuple[str, ...]
    spared: tuple[str, ...]
    bytes_freed: int
    dry_run: bool
    temp_removed: int = 0


@dataclass(frozen=True)
class FsckReport:
    """What ``check_blobs`` found and did.

    Attributes:
        checked: Blobs re-hashed.
        corrupt: Blobs whose content does not match their address (or that are not regular
            files).
        quarantined: Corrupt blobs moved aside (only when asked to).
        missing: Blobs some row refers to that are not stored (only with a metadata store).
    """

    checked: int
    corrupt: tuple[str, ...]
    quarantined: tuple[str, ...]
    missing: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """Whether every blob verified and none is missing."""
        return not self.corrupt and not self.missing


def _report(progress: Progress | None, advance: int, total: int | None) -> None:
    if progress is not None:
        progress(advance, total)


def collect_garbage(
    metadata: MetadataStore,
    blobs: BlobStore,
    *,
    dry_run: bool = False,
    grace_seconds: float = 3600,
    progress: Progress | None = None,
) -> GcReport:
    """Delete blobs that no row refers to and that are older than ``grace_seconds``.

    Partial writes abandoned for longer than ``grace_seconds`` are removed as well.

    Args:
        metadata: The rows; :meth:`MetadataStore.referenced_blobs` says what is in use.
        blobs: The blobs to sweep.
        dry_run: Report what would be deleted, delete nothing.
        grace_seconds: Never delete a blob stored more recently than this.
        progress: Called with ``(advance, total)`` as blobs are examined.

    Raises:
        InvalidInput: ``grace_seconds`` is negative.
    """
    if grace_seconds < 0:
        raise InvalidInput(f"grace_seconds must be zero or more, got {grace_seconds}")
    # List blobs before reading references: a row written after this listing refers to a blob
    # that is either young (spared by the grace period) or already in the listing.
    stored = list(blobs.iter_digests())
    referenced = set(metadata.referenced_blobs())
    total = len(stored)
    _report(progress, 0, total)
    deleted: list[str] = []
    spared: list[str] = []
    kept = 0
    freed = 0
    for digest in stored:
        _report(progress, 1, total)
        if digest in referenced:
            kept += 1
            continue
        try:
            mtime = blobs.modified_time(digest)
        except NotFound:
            continue  # removed meanwhile
        if mtime is None or time.time() - mtime < grace_seconds:
            spared.append(digest)
            continue
        try:
            size = blobs.size(digest)
        except NotFound:
            continue
        except IntegrityError:
            size = 0  # not a regular file (e.g. a planted link): nothing to count, still remove
        if not dry_run:
            blobs.delete(digest)
        deleted.append(digest)
        freed += size
    # A writer that died mid-upload leaves a temp file no listing shows; sweep those too.
    temp_removed = 0 if dry_run else blobs.clean_temp(grace_seconds)
    return GcReport(
        scanned=total,
        referenced=kept,
        deleted=tuple(deleted),
        spared=tuple(spared),
        bytes_freed=freed,
        dry_run=dry_run,
        temp_removed=temp_removed,
    )


def check_blobs(
    blobs: BlobStore,
    *,
    metadata: MetadataStore | None = None,
    quarantine: bool = False,
    progress: Progress | None = None,
) -> FsckReport:
    """Re-hash every blob; report (and optionally quarantine) corrupt ones.

    Args:
        blobs: The blobs to verify.
        metadata: When given, also report blobs that rows refer to but that are not stored.
        quarantine: Move corrupt blobs aside so they are no longer served.
        progress: Called with ``(advance, total)`` as blobs are verified.
    """
    # References first: every row's blob was stored before the row, so it is in the listing.
    referenced = set(metadata.referenced_blobs()) if metadata is not None else set()
    stored = list(blobs.iter_digests())
    total = len(stored)
    _report(progress, 0, total)
    corrupt: list[str] = []
    quarantined: list[str] = []
    checked = 0
    for digest in stored:
        _report(progress, 1, total)
        try:
            ok = blobs.verify(digest)
        except NotFound:
            continue  # deleted meanwhile
        checked += 1
        if ok:
            continue
        corrupt.append(digest)
        if quarantine:
            try:
                blobs.quarantine(digest)
            except NotFound:
                continue
            quarantined.append(digest)
    present = set(stored)
    missing = sorted(d for d in referenced if d not in present)
    return FsckReport(
        checked=checked,
        corrupt=tuple(corrupt),
        quarantined=tuple(quarantined),
        missing=tuple(missing),
    )
