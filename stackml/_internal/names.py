"""Validation of user-given names, keys and logical paths.

Everything a user names (projects, experiments, runs, metric/param/tag keys, artifact paths)
passes through here before it reaches a database row or a file system. Validation is an
allow-list: anything not explicitly allowed is refused, so new encoding tricks fail closed.
Each function raises :class:`ValueError` subclasses given by the caller's layer; here we
raise plain ``ValueError`` and let callers translate (``stackml.errors.InvalidInput`` is a
``ValueError`` too).
"""

from __future__ import annotations

import re
import unicodedata

MAX_NAME = 128
MAX_KEY = 250
MAX_PATH = 1024
MAX_SEGMENT_BYTES = 255  # the usual file-name limit (ext4, APFS, NTFS)

# Projects, experiments and other slug-like names: start alphanumeric, then . _ - allowed.
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# Metric, param and tag keys: word characters, space, and . - / : (e.g. "train/loss").
_KEY_RE = re.compile(r"^[\w .\-/:]+$")
# One segment of an artifact path: word characters and a few safe punctuation marks.
# Notably absent: % ; # \ NUL and every control character.
_SEGMENT_RE = re.compile(r"^[\w.\-+=@,()\[\] ]+$")


class InvalidName(ValueError):
    """A name, key or path failed validation (translated to InvalidInput by callers)."""


def validate_name(value: object, *, what: str = "name") -> str:
    """Check a slug-like name such as a project or experiment name and return it."""
    if not isinstance(value, str) or not value:
        raise InvalidName(f"{what} must be a non-empty string")
    if len(value) > MAX_NAME:
        raise InvalidName(f"{what} is longer than {MAX_NAME} characters")
    if not _NAME_RE.fullmatch(value) or value.endswith("."):
        raise InvalidName(
            f"invalid {what} {value!r}: use letters, digits, '.', '_' and '-', "
            "starting with a letter or digit"
        )
    return value


def validate_label(value: object, *, what: str = "name", max_len: int = 250) -> str:
    """Check free text shown to people (run names, descriptions' titles): no control chars."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidName(f"{what} must be a non-empty string")
    if len(value) > max_len:
        raise InvalidName(f"{what} is longer than {max_len} characters")
    if any(unicodedata.category(ch).startswith("C") for ch in value):
        raise InvalidName(f"{what} must not contain control characters")
    return value


def validate_key(value: object, *, what: str = "key") -> str:
    """Check a metric, param or tag key such as ``train/loss`` and return it."""
    if not isinstance(value, str) or not value:
        raise InvalidName(f"{what} must be a non-empty string")
    if len(value) > MAX_KEY:
        raise InvalidName(f"{what} is longer than {MAX_KEY} characters")
    if not _KEY_RE.fullmatch(value) or value != value.strip():
        raise InvalidName(f"invalid {what} {value!r}: use letters, digits, spaces and '_ . - / :'")
    if any(part in {".", ".."} for part in value.split("/")):
        raise InvalidName(f"invalid {what} {value!r}: '.' and '..' segments are not allowed")
    return value


def validate_relative_path(value: object, *, what: str = "artifact path") -> str:
    """Check a logical, relative, POSIX path that must stay inside its root.

    Refuses absolute paths, ``.``/``..`` segments, empty segments, backslashes, percent
    signs (so no encoded or double-encoded ``..``), ``;``, ``#``, NUL and control
    characters. Returns the path unchanged when it is valid.
    """
    if not isinstance(value, str) or not value:
        raise InvalidName(f"{what} must be a non-empty string")
    if len(value) > MAX_PATH:
        raise InvalidName(f"{what} is longer than {MAX_PATH} characters")
    if value.startswith("/") or value.endswith("/"):
        raise InvalidName(f"{what} {value!r} must be relative, without a leading or trailing '/'")
    for segment in value.split("/"):
        if segment in {"", ".", ".."}:
            raise InvalidName(f"{what} {value!r} may not contain empty, '.' or '..' segments")
        if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
            raise InvalidName(
                f"{what} has a segment longer than {MAX_SEGMENT_BYTES} bytes; file systems "
                "refuse such names"
            )
        if not _SEGMENT_RE.fullmatch(segment) or segment != segment.strip():
            raise InvalidName(
                f"{what} {value!r} contains a character that is not allowed; use letters, "
                "digits, spaces and '. _ - + = @ , ( ) [ ]' between '/'"
            )
    return value
