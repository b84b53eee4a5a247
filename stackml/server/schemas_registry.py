"""Request and response bodies of the model registry API (``/api/v1/models``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from stackml.store.registry_base import (
    ModelAliasEvent,
    ModelFile,
    ModelVersion,
    ModelVersionDraft,
    RegisteredModel,
)


class RegisteredModelOut(BaseModel):
    name: str
    description: str
    created_at: int
    updated_at: int
    tags: dict[str, str]
    gates: dict[str, list[str]]
    version_count: int
    latest_version: int | None
    aliases: dict[str, int]

    @classmethod
    def of(cls, m: RegisteredModel) -> RegisteredModelOut:
        return cls(
            name=m.name,
            description=m.description,
            created_at=m.created_at,
            updated_at=m.updated_at,
            tags=m.tags,
            gates=m.gates,
            version_count=m.version_count,
            latest_version=m.latest_version,
            aliases=m.aliases,
        )


class RegisteredModelIn(BaseModel):
    name: str
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)


class RegisteredModelPatch(BaseModel):
    description: str | None = None
    tags: dict[str, str] | None = None
    gates: dict[str, list[str]] | None = None


class ModelFileBody(BaseModel):
    path: str
    blob_hash: str
    size: int


class ModelVersionIn(BaseModel):
    run_id: str
    artifact_path: str
    format: str
    files: list[ModelFileBody]
    signature: dict[str, Any]
    metrics: dict[str, float] = Field(default_factory=dict)
    meta: dict[str, Any] = Field(default_factory=dict)
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    author: str = ""
    code_commit: str | None = None
    dataset_versions: list[str] = Field(default_factory=list)
    source_version: str | None = None
    created_at: int = 0

    def draft(self, model: str, author: str | None) -> ModelVersionDraft:
        body = self.model_dump()
        body["files"] = tuple(ModelFile(**f) for f in body["files"])
        body["dataset_versions"] = tuple(body["dataset_versions"])
        if author is not None:  # with auth on, the token says who registered it
            body["author"] = author
        return ModelVersionDraft(model=model, **body)


class ModelVersionOut(ModelVersionIn):
    model: str
    version: int
    aliases: list[str]

    @classmethod
    def of(cls, v: ModelVersion) -> ModelVersionOut:
        return cls(
            model=v.model,
            version=v.version,
            run_id=v.run_id,
            artifact_path=v.artifact_path,
            format=v.format,
            files=[ModelFileBody(path=f.path, blob_hash=f.blob_hash, size=f.size) for f in v.files],
            signature=v.signature,
            metrics=v.metrics,
            meta=v.meta,
            description=v.description,
            tags=v.tags,
            author=v.author,
            code_commit=v.code_commit,
            dataset_versions=list(v.dataset_versions),
            source_version=v.source_version,
            created_at=v.created_at,
            aliases=list(v.aliases),
        )


class AliasMoveIn(BaseModel):
    version: int | None
    action: str = "set"
    author: str = ""
    reason: str = ""
    gates: dict[str, Any] = Field(default_factory=dict)


class AliasTargetOut(BaseModel):
    model: str
    alias: str
    version: int


class ModelAliasEventOut(BaseModel):
    model: str
    alias: str
    version: int | None
    previous: int | None
    action: str
    author: str
    reason: str
    moved_at: int
    gates: dict[str, Any]

    @classmethod
    def of(cls, e: ModelAliasEvent) -> ModelAliasEventOut:
        return cls(
            model=e.model,
            alias=e.alias,
            version=e.version,
            previous=e.previous,
            action=e.action,
            author=e.author,
            reason=e.reason,
            moved_at=e.moved_at,
            gates=e.gates,
        )
