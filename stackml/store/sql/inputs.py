"""Validation of caller input at the store boundary; failures raise ``InvalidInput``."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from stackml._internal import names
from stackml.errors import InvalidInput

_BLOB_HASH_RE = re.compile(r"^[A-Za-z0-9:_\-]{1,128}$")
_MEDIA_TYPE_RE = re.compile(r"^[\w.+\-]+/[\w.+\-]+(;[\w .=+\-\"]*)*$")
MAX_VALUE = 65_535


def name(value: object, what: str) -> str:
    """A slug-like name (project, experiment, user, lineage type)."""
    try:
        return names.validate_name(value, what=what)
    except names.InvalidName as error:
        raise InvalidInput(str(error)) from error


def label(value: object, what: str, max_len: int = 250) -> str:
    """Free text shown to people (run names, lineage ids, token names)."""
    try:
        return names.validate_label(value, what=what, max_len=max_len)
    except names.InvalidName as error:
        raise InvalidInput(str(error)) from error


def key(value: object, what: str = "key") -> str:
    """A metric, param or tag key."""
    try:
        return names.validate_key(value, what=what)
    except names.InvalidName as error:
        raise InvalidInput(str(error)) from error


def path(value: object, what: str = "artifact path") -> str:
    """A relative logical path inside a run."""
    try:
        return names.validate_relative_path(value, what=what)
    except names.InvalidName as error:
        raise InvalidInput(str(error)) from error


def identifier(value: object, what: str = "run id") -> str:
    """An id as given by a caller (any short string; unknown ones are ``NotFound`` later)."""
    if not isinstance(value, str) or not value or len(value) > 64:
        raise InvalidInput(f"invalid {what} {value!r}")
    return value


def string_map(values: Mapping[str, object] | None, what: str) -> dict[str, str]:
    """Validate keys and turn values into strings (params and tags are strings)."""
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise InvalidInput(f"{what} must be a mapping of key to value")
    result: dict[str, str] = {}
    for raw_key, raw_value in values.items():
        checked = key(raw_key, what=f"{what} key")
        if raw_value is None:
            raise InvalidInput(f"{what} {checked!r} has no value")
        text = raw_value if isinstance(raw_value, str) else str(raw_value)
        if len(text) > MAX_VALUE:
            raise InvalidInput(f"{what} {checked!r} is longer than {MAX_VALUE} characters")
        if "\x00" in text:
            raise InvalidInput(f"{what} {checked!r} contains a NUL character")
        result[checked] = text
    return result


def as_number(text: str) -> float | None:
    """The finite number a param value spells, or ``None`` when it is not one."""
    if len(text) > 64:
        return None
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def blob_hash(value: object) -> str:
    """A content hash as written by the blob stores."""
    if not isinstance(value, str) or not _BLOB_HASH_RE.match(value):
        raise InvalidInput(f"invalid blob hash {value!r}")
    return value


def media_type(value: object) -> str:
    """A media type such as ``application/octet-stream``."""
    if not isinstance(value, str) or len(value) > 255 or not _MEDIA_TYPE_RE.match(value):
        raise InvalidInput(f"invalid media type {value!r}: use type/subtype")
    return value


def non_negative_int(value: object, what: str) -> int:
    """An integer ``>= 0`` (sizes, times)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(f"{what} must be a non-negative integer, not {value!r}")
    return value
