"""Extracting zip and tar archives without letting an entry escape the destination.

Every entry is checked before anything is written: an archive with one bad entry is refused
whole and leaves the destination untouched. Refused: absolute names (``/etc/x``, ``C:\\x``),
``..`` segments, backslashes, symlinks, hardlinks, device files and FIFOs, and names that
collide after normalisation. Extraction writes into a temporary folder beside ``dest`` and
renames it into place, so a failure half-way leaves nothing behind either.
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
from pathlib import Path

from stackml._internal.names import InvalidName, validate_relative_path
from stackml.errors import InvalidInput

__all__ = ["UnsafeArchive", "is_archive", "list_members", "safe_extract"]

#: Names that mark a file as an archive this module extracts.
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")


class UnsafeArchive(InvalidInput):
    """An archive entry would write outside the destination, or is a link or device."""


def is_archive(name: str) -> bool:
    """Whether ``name`` ends like an archive this module extracts."""
    return str(name).lower().endswith(ARCHIVE_SUFFIXES)


def _check_name(archive: Path, name: str) -> str:
    clean = name[:-1] if name.endswith("/") else name
    if not clean or "\\" in clean or clean.startswith("/") or (len(clean) > 1 and clean[1] == ":"):
        raise UnsafeArchive(f"{archive.name}: entry {name!r} has an absolute or Windows path")
    try:
        return validate_relative_path(clean, what="archive entry")
    except InvalidName as error:
        raise UnsafeArchive(f"{archive.name}: {error}") from error


def _zip_members(archive: Path) -> list[tuple[str, bool]]:
    members = []
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            name = _check_name(archive, info.filename)
            kind = stat.S_IFMT(info.external_attr >> 16)  # 0: no Unix type recorded
            if kind == stat.S_IFLNK:
                raise UnsafeArchive(f"{archive.name}: entry {info.filename!r} is a symlink")
            if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
                raise UnsafeArchive(f"{archive.name}: entry {info.filename!r} is not a file")
            members.append((name, info.is_dir()))
    return members


def _tar_members(archive: Path) -> list[tuple[str, bool]]:
    members = []
    with tarfile.open(archive) as tf:
        for info in tf.getmembers():
            name = _check_name(archive, info.name)
            if info.issym() or info.islnk():
                raise UnsafeArchive(
                    f"{archive.name}: entry {info.name!r} is a "
                    f"{'symlink' if info.issym() else 'hardlink'} to {info.linkname!r}"
                )
            if not (info.isfile() or info.isdir()):
                raise UnsafeArchive(f"{archive.name}: entry {info.name!r} is not a file")
            members.append((name, info.isdir()))
    return members


def list_members(archive: str | Path) -> list[tuple[str, bool]]:
    """Every entry as ``(name, is_dir)`` after the safety checks. Raises ``UnsafeArchive``."""
    archive = Path(archive)
    try:
        if zipfile.is_zipfile(archive):
            members = _zip_members(archive)
        elif tarfile.is_tarfile(archive):
            members = _tar_members(archive)
        else:
            raise InvalidInput(f"{archive.name} is neither a zip nor a tar archive")
    except (zipfile.BadZipFile, tarfile.TarError, OSError) as error:
        raise InvalidInput(f"{archive.name}: cannot read the archive ({error})") from error
    seen: dict[str, bool] = {}
    for name, is_dir in members:
        key = name.casefold()
        if key in seen and not (is_dir and seen[key]):
            raise UnsafeArchive(f"{archive.name}: entry {name!r} appears twice")
        seen[key] = is_dir
    files = {n for n, d in members if not d}
    for name in files:  # a file may not also be the folder of another entry
        parts = name.split("/")
        for i in range(1, len(parts)):
            if "/".join(parts[:i]) in files:
                raise UnsafeArchive(f"{archive.name}: {name!r} lies under a file entry")
    return members


def safe_extract(archive: str | Path, dest: str | Path) -> list[Path]:
    """Extract every entry of a zip or tar ``archive`` into the new folder ``dest``.

    Returns the extracted files. Raises ``UnsafeArchive`` (nothing written) for a slip entry,
    a link or a device, and ``InvalidInput`` when ``dest`` exists or the file is no archive.
    """
    archive, dest = Path(archive), Path(dest)
    if dest.exists():
        raise InvalidInput(f"{dest} exists; extract into a new folder")
    members = list_members(archive)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".extract-", dir=dest.parent))
    try:
        written: list[Path] = []
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                for zinfo in zf.infolist():
                    written += _write(staging, zinfo.filename, zinfo.is_dir(), zf.open, zinfo)
        else:
            with tarfile.open(archive) as tf:
                for tinfo in tf.getmembers():
                    written += _write(staging, tinfo.name, tinfo.isdir(), tf.extractfile, tinfo)
        if len(written) != sum(1 for _, is_dir in members if not is_dir):  # pragma: no cover
            raise UnsafeArchive(f"{archive.name} changed while it was being extracted")
        os.replace(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return [dest / p.relative_to(staging) for p in written]


def _write(root: Path, name: str, is_dir: bool, opener: object, info: object) -> list[Path]:
    relative = validate_relative_path(name.rstrip("/"), what="archive entry")
    target = root.joinpath(*relative.split("/"))
    if is_dir:
        target.mkdir(parents=True, exist_ok=True)
        return []
    target.parent.mkdir(parents=True, exist_ok=True)
    stream = opener(info)  # type: ignore[operator]
    if stream is None:  # pragma: no cover - only regular files reach here
        raise UnsafeArchive(f"entry {name!r} has no content")
    with stream, open(target, "xb") as out:
        shutil.copyfileobj(stream, out)
    return [target]
