"""Request and response bodies of ``/api/v1/datasets``.

The version's schema travels as ``data_schema`` (``schema`` is taken by pydantic's models).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from stackml.server.schemas import Body
from stackml.store.datasets_base import AliasEvent, Dataset, DatasetVersion, VersionDraft


class DatasetOut(BaseModel):
    name: str
    created_at: int
    version_count: int
    latest_id: str | None

    @classmethod
    def of(cls, d: Dataset) -> DatasetOut:
        return cls(
            name=d.name,
            created_at=d.created_at,
            version_count=d.version_count,
            latest_id=d.latest_id,
        )


class DatasetVersionOut(BaseModel):
    id: str
    dataset: str
    number: int
    parent_id: str | None
    message: str
    author: str
    created_at: int
    kind: str
    manifest_hash: str | None
    table_hash: str | None
    num_files: int
    num_rows: int | None
    size_bytes: int
    data_schema: dict[str, Any]
    splits: dict[str, Any]
    transform: dict[str, Any]
    aliases: list[str]
    deleted: bool

    @classmethod
    def of(cls, v: DatasetVersion) -> DatasetVersionOut:
        return cls(
            id=v.id,
            dataset=v.dataset,
            number=v.number,
            parent_id=v.parent_id,
            message=v.message,
            author=v.author,
            created_at=v.created_at,
            kind=v.kind,
            manifest_hash=v.manifest_hash,
            table_hash=v.table_hash,
            num_files=v.num_files,
            num_rows=v.num_rows,
            size_bytes=v.size_bytes,
            data_schema=dict(v.schema),
            splits=dict(v.splits),
            transform=dict(v.transform),
            aliases=list(v.aliases),
            deleted=v.deleted,
        )


class AliasEventOut(BaseModel):
    dataset: str
    alias: str
    version_id: str | None
    moved_at: int
    author: str

    @classmethod
    def of(cls, e: AliasEvent) -> AliasEventOut:
        return cls(
            dataset=e.dataset,
            alias=e.alias,
            version_id=e.version_id,
            moved_at=e.moved_at,
            author=e.author,
        )


class VersionDraftIn(Body):
    kind: str
    manifest_hash: str | None = None
    table_hash: str | None = None
    blob_hashes: list[str] = Field(default_factory=list, max_length=5_000_000)
    num_files: int = Field(ge=0)
    num_rows: int | None = Field(default=None, ge=0)
    size_bytes: int = Field(ge=0)
    message: str = ""
    author: str = ""
    data_schema: dict[str, Any] = Field(default_factory=dict)
    splits: dict[str, Any] = Field(default_factory=dict)
    transform: dict[str, Any] = Field(default_factory=dict)
    parent_id: str | None = None
    created_at: int = Field(default=0, ge=0)

    def draft(self, dataset: str) -> VersionDraft:
        return VersionDraft(
            dataset=dataset,
            kind=self.kind,
            manifest_hash=self.manifest_hash,
            table_hash=self.table_hash,
            blob_hashes=tuple(self.blob_hashes),
            num_files=self.num_files,
            num_rows=self.num_rows,
            size_bytes=self.size_bytes,
            message=self.message,
            author=self.author,
            schema=self.data_schema,
            splits=self.splits,
            transform=self.transform,
            parent_id=self.parent_id,
            created_at=self.created_at,
        )


class AliasIn(Body):
    ref: str | None = None
    author: str = ""
