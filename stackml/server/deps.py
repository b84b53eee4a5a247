"""Dependencies that hand routes the store held by the application (never a module global)."""

from __future__ import annotations

from fastapi import Request

from stackml.store import Store
from stackml.store.base import MetadataStore
from stackml.store.blobs.base import BlobStore


def get_store(request: Request) -> Store:
    """The :class:`~stackml.store.Store` this application serves."""
    store: Store = request.app.state.store
    return store


def get_metadata(request: Request) -> MetadataStore:
    """The metadata half of the served store."""
    return get_store(request).metadata


def get_blobs(request: Request) -> BlobStore:
    """The blob half of the served store."""
    return get_store(request).blobs
