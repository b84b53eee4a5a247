"""The persistence layer: metadata (SQLAlchemy or REST) and content-addressed blobs (fsspec).

:func:`open_store` turns a :class:`~stackml.config.StoreLocation` into a :class:`Store`, the
pair every higher layer works with.
"""

from __future__ import annotations

from dataclasses import dataclass

from stackml.config import StoreLocation, get_settings, resolve_location
from stackml.store.base import DEFAULT_EXPERIMENT, MetadataStore
from stackml.store.blobs.base import BlobStore
from stackml.store.entities import (
    ApiToken,
    Artifact,
    Experiment,
    LineageEdge,
    MetricPoint,
    MetricSummary,
    Project,
    Run,
    RunPage,
    RunStatus,
    User,
)

__all__ = [
    "DEFAULT_EXPERIMENT",
    "ApiToken",
    "Artifact",
    "BlobStore",
    "Experiment",
    "LineageEdge",
    "MetadataStore",
    "MetricPoint",
    "MetricSummary",
    "Project",
    "Run",
    "RunPage",
    "RunStatus",
    "Store",
    "User",
    "open_store",
]


@dataclass
class Store:
    """Metadata and blobs of one stackml store."""

    metadata: MetadataStore
    blobs: BlobStore
    location: StoreLocation

    def close(self) -> None:
        self.metadata.close()


def open_blob_store(url: str) -> BlobStore:
    """A blob store for a local folder or an fsspec URL."""
    if "://" in url and not url.startswith("file://"):
        from stackml.store.blobs.fsspec_store import FsspecBlobStore

        return FsspecBlobStore(url)
    from stackml.store.blobs.local import LocalBlobStore

    return LocalBlobStore(url.removeprefix("file://"))


def open_store(
    tracking_uri: str | None = None,
    artifact_uri: str | None = None,
    *,
    token: str | None = None,
) -> Store:
    """Open the store named by the arguments, ``STACKML_*`` variables or the nearest ``.stackml``.

    Opening a SQL store applies pending migrations (under a lock, so concurrent cold starts
    are safe).
    """
    location = resolve_location(tracking_uri, artifact_uri)
    if location.kind == "rest":
        from stackml.store.blobs.rest import RestBlobStore
        from stackml.store.rest import RestMetadataStore

        if token is None:
            secret = get_settings().token
            token = secret.get_secret_value() if secret else None
        metadata: MetadataStore = RestMetadataStore(location.metadata_url, token=token)
        blobs: BlobStore = (
            open_blob_store(location.blob_url)
            if location.blob_url
            else RestBlobStore(location.metadata_url, token=token)
        )
        return Store(metadata, blobs, location)
    from stackml.store.sql.store import SqlMetadataStore

    assert location.blob_url is not None
    return Store(
        SqlMetadataStore(location.metadata_url), open_blob_store(location.blob_url), location
    )
