"""Configuration: every setting is defined once here, read from ``STACKML_*`` variables.

The store is found the way git finds its repository:

1. ``STACKML_TRACKING_URI`` if set: an ``http(s)://`` server, a SQLAlchemy database URL
   (``sqlite:///…``, ``postgresql+psycopg://…``) or a directory holding ``.stackml/``;
2. else the nearest ``.stackml/`` walking up from the working directory;
3. else a new ``.stackml/`` created in the working directory.

Blobs go to ``STACKML_ARTIFACT_URI`` if set (a folder or any fsspec URL such as
``s3://bucket/prefix``), else to ``.stackml/blobs/`` (or, for a server store, through the
server).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

STORE_DIR = ".stackml"
DB_FILE = "stackml.db"
BLOBS_DIR = "blobs"


class Settings(BaseSettings):
    """Settings read from the environment (prefix ``STACKML_``)."""

    model_config = SettingsConfigDict(env_prefix="STACKML_", extra="ignore")

    tracking_uri: str | None = None
    artifact_uri: str | None = None
    token: SecretStr | None = None
    #: Largest JSON request body the server accepts (artifact uploads stream and are exempt).
    max_request_bytes: int = 32 * 1024 * 1024
    #: Points the background metric writer buffers before ``log_metrics`` applies back-pressure.
    metric_queue_size: int = 1_000_000
    #: Seconds the exit hook waits for queued metrics before reporting what was not written.
    exit_flush_timeout: float = 30.0
    #: Extra ``Host`` names the server answers besides loopback ones (comma-separated; ``*``
    #: allows any). Refusing other names defends a localhost server against DNS rebinding.
    allowed_hosts: str = ""


_settings_cache: dict[tuple[tuple[str, str], ...], Settings] = {}


def get_settings() -> Settings:
    """The settings the environment holds now.

    Building them parses every ``STACKML_*`` variable, so they are kept per distinct set of
    those variables: a changed variable gives fresh settings at once. Treat them as read-only.
    """
    key = tuple(sorted((k, v) for k, v in os.environ.items() if k.upper().startswith("STACKML_")))
    settings = _settings_cache.get(key)
    if settings is None:
        if len(_settings_cache) > 64:  # environments that keep changing: stay small
            _settings_cache.clear()
        settings = _settings_cache[key] = Settings()
    return settings


@dataclass(frozen=True)
class StoreLocation:
    """Where metadata and blobs live."""

    kind: Literal["sql", "rest"]
    metadata_url: str
    blob_url: str | None
    root: Path | None  # the .stackml directory, for embedded stores

    def describe(self) -> str:
        return self.metadata_url if self.root is None else str(self.root)


def find_store_dir(start: Path) -> Path | None:
    """The nearest ``.stackml`` directory at or above ``start``."""
    start = start.resolve()
    for folder in (start, *start.parents):
        candidate = folder / STORE_DIR
        if candidate.is_dir():
            return candidate
    return None


def embedded_location(store_dir: Path, artifact_uri: str | None = None) -> StoreLocation:
    """The location of an embedded store rooted at ``store_dir`` (a ``.stackml`` folder)."""
    store_dir = store_dir.resolve()
    return StoreLocation(
        kind="sql",
        metadata_url=f"sqlite:///{store_dir / DB_FILE}",
        blob_url=artifact_uri or str(store_dir / BLOBS_DIR),
        root=store_dir,
    )


def resolve_location(
    tracking_uri: str | None = None,
    artifact_uri: str | None = None,
    *,
    cwd: Path | None = None,
    create: bool = True,
) -> StoreLocation:
    """Decide where the store is, following the rules in the module docstring."""
    settings = get_settings()
    tracking_uri = tracking_uri or settings.tracking_uri
    artifact_uri = artifact_uri or settings.artifact_uri
    cwd = cwd or Path.cwd()
    if tracking_uri:
        if tracking_uri.startswith(("http://", "https://")):
            return StoreLocation("rest", tracking_uri.rstrip("/"), artifact_uri, None)
        if "://" in tracking_uri:
            blob_url = artifact_uri
            if blob_url is None and tracking_uri.startswith("sqlite:///"):
                db_path = Path(tracking_uri.removeprefix("sqlite:///"))
                blob_url = str(db_path.resolve().parent / BLOBS_DIR)
            if blob_url is None:
                blob_url = str(cwd.resolve() / STORE_DIR / BLOBS_DIR)
            return StoreLocation("sql", tracking_uri, blob_url, None)
        folder = Path(tracking_uri)
        store_dir = folder if folder.name == STORE_DIR else folder / STORE_DIR
        if create:
            store_dir.mkdir(parents=True, exist_ok=True)
        return embedded_location(store_dir, artifact_uri)
    found = find_store_dir(cwd)
    if found is None:
        found = cwd / STORE_DIR
        if create:
            found.mkdir(parents=True, exist_ok=True)
    return embedded_location(found, artifact_uri)
