"""Template rendering: one autoescaping Jinja2 environment, filters and static files."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import math
import mimetypes
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from stackml._internal.names import validate_relative_path
from stackml._version import __version__
from stackml.errors import InvalidInput, NotFound

PACKAGE_DIR = Path(__file__).parent
STATIC_DIR = PACKAGE_DIR / "static"
TEMPLATE_DIR = PACKAGE_DIR / "templates"


@dataclass(frozen=True)
class Area:
    """One entry of the navigation: a product area and where its pages live."""

    key: str
    label: str
    href: str


#: Areas in navigation order. Capabilities add theirs here when their pages land; areas
#: without pages are not linked at all.
_AREAS: list[Area] = [
    Area("projects", "Projects", "/projects"),
    Area("runs", "Runs", "/runs"),
]


def nav_areas() -> list[Area]:
    """The areas the navigation links to, in order."""
    return list(_AREAS)


def register_area(area: Area, *, after: str | None = None) -> None:
    """Add an area to the navigation (idempotent), optionally after the area ``after``."""
    if any(a.key == area.key for a in _AREAS):
        return
    index = next((i + 1 for i, a in enumerate(_AREAS) if a.key == after), len(_AREAS))
    _AREAS.insert(index, area)


def _duration(ms: int | None) -> str:
    if ms is None:
        return "—"
    seconds = ms / 1000
    if seconds < 1:
        return f"{ms} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def _datetime(ms: int | None) -> str:
    if ms is None:
        return "—"
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _number(value: float | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return str(value)
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value)}"
    return f"{value:.6g}"


def _filesize(size: int) -> str:
    step = 1024.0
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < step:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= step
    return f"{value:.1f} TiB"


@functools.cache
def _asset_version(name: str) -> str:
    """A short content hash of a static file, appended to its URL so caches refresh."""
    try:
        return hashlib.blake2b((STATIC_DIR / name).read_bytes(), digest_size=4).hexdigest()
    except OSError:
        return __version__


def _static_url(name: str) -> str:
    return f"/static/{name}?v={_asset_version(name)}"


@functools.cache
def environment() -> Environment:
    """The shared template environment: autoescape is on for every template, always."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        # Templates ship inside the package: no file checks on every render.
        auto_reload=False,
    )
    env.filters.update(duration=_duration, datetime=_datetime, number=_number, filesize=_filesize)
    env.globals.update(static=_static_url, version=__version__)
    return env


def render(name: str, **context: Any) -> str:
    """Render template ``name`` with ``context`` (plus the navigation areas)."""
    context.setdefault("areas", nav_areas())
    return environment().get_template(name).render(**context)


def static_file(path: str) -> tuple[Path, str]:
    """The file behind ``/static/<path>`` and its media type.

    Raises:
        InvalidInput: for a path that is not a plain relative path.
        NotFound: for a file that does not exist.
    """
    try:
        clean = validate_relative_path(path)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    file = (STATIC_DIR / clean).resolve()
    if STATIC_DIR.resolve() not in file.parents or not file.is_file():
        raise NotFound(f"no static file {path!r}")
    media = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    if file.suffix == ".js":
        media = "text/javascript"
    return file, media
