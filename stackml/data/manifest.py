"""File-tree manifests: the files of a version, and scanning a folder for them.

A manifest lists every file of a version as ``path -> (blob hash, size, media type)``,
sorted by path; it is stored as a blob itself (canonical JSON), so identical trees share a
manifest. Paths are POSIX, relative, and pass
:func:`stackml._internal.names.validate_relative_path`, both when a tree is scanned and when
a manifest is read back, so a crafted manifest cannot write outside a destination folder.

A scan refuses symlinks unless ``follow_symlinks=True``, in which case the target's content
is stored (never the link). Storing a scanned tree is :func:`stackml.data.storing.store_tree`.
"""

from __future__ import annotations

import functools
import json
import mimetypes
import operator
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from stackml._internal.names import MAX_PATH, InvalidName, validate_relative_path
from stackml.data.hashcache import FileStamp
from stackml.errors import InvalidInput

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
