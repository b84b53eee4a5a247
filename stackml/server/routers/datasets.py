"""``/api/v1/datasets``: datasets, their versions and aliases (blobs go through ``/blobs``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from stackml.server.auth import authenticated
from stackml.server.deps import get_metadata
from stackml.server.routers._common import API_PREFIX, ERROR_RESPONSES
from stackml.server.schemas_datasets import (
    AliasEventOut,
    AliasIn,
    DatasetOut,
    DatasetVersionOut,
    VersionDraftIn,
)
from stackml.store.base import MetadataStore

router = APIRouter(
    prefix=f"{API_PREFIX}/datasets",
    tags=["datasets"],
    dependencies=[Depends(authenticated)],
    responses=ERROR_RESPONSES,
)


@router.get("", response_model=list[DatasetOut])
def list_datasets(store: MetadataStore = Depends(get_metadata)) -> list[DatasetOut]:
    """Every dataset, ordered by name."""
    return [DatasetOut.of(d) for d in store.list_datasets()]


@router.post("/{name}/versions", response_model=DatasetVersionOut, status_code=201)
def create_version(
    name: str, body: VersionDraftIn, store: MetadataStore = Depends(get_metadata)
) -> DatasetVersionOut:
    """Commit a version whose blobs are already stored."""
    return DatasetVersionOut.of(store.create_dataset_version(body.draft(name)))


@router.get("/{name}/versions", response_model=list[DatasetVersionOut])
def list_versions(
    name: str, include_deleted: bool = False, store: MetadataStore = Depends(get_metadata)
) -> list[DatasetVersionOut]:
    """Versions of a dataset, newest first."""
    versions = store.list_dataset_versions(name, include_deleted=include_deleted)
    return [DatasetVersionOut.of(v) for v in versions]


@router.get("/{name}/versions/{ref}", response_model=DatasetVersionOut)
def get_version(
    name: str, ref: str, store: MetadataStore = Depends(get_metadata)
) -> DatasetVersionOut:
    """One version by id, id prefix, ``vN`` or alias."""
    return DatasetVersionOut.of(store.get_dataset_version(name, ref))


@router.delete("/{name}/versions/{ref}", response_model=DatasetVersionOut)
def delete_version(
    name: str, ref: str, store: MetadataStore = Depends(get_metadata)
) -> DatasetVersionOut:
    """Soft-delete a version (``stackml gc`` frees its blobs)."""
    return DatasetVersionOut.of(store.delete_dataset_version(name, ref))


@router.put("/{name}/aliases/{alias}", response_model=AliasEventOut)
def set_alias(
    name: str, alias: str, body: AliasIn, store: MetadataStore = Depends(get_metadata)
) -> AliasEventOut:
    """Move an alias to a version, or remove it when ``ref`` is null."""
    return AliasEventOut.of(store.set_dataset_alias(name, alias, body.ref, author=body.author))


@router.get("/{name}/aliases", response_model=list[AliasEventOut])
def alias_history(
    name: str, alias: str | None = None, store: MetadataStore = Depends(get_metadata)
) -> list[AliasEventOut]:
    """Every move of the dataset's aliases, oldest first."""
    return [AliasEventOut.of(e) for e in store.alias_history(name, alias)]
