"""``/api/v1/models``: registered models, their versions, aliases and the promotion audit trail.

Model files are run artifacts (``/api/v1/runs/{id}/artifacts``), so nothing here moves bytes.
With auth on, the author of a version or an alias move is the token's user, whatever the
body says.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from stackml.server.auth import authenticated, current_user
from stackml.server.deps import get_metadata
from stackml.server.routers._common import API_PREFIX, ERROR_RESPONSES
from stackml.server.schemas_registry import (
    AliasMoveIn,
    AliasTargetOut,
    ModelAliasEventOut,
    ModelVersionIn,
    ModelVersionOut,
    RegisteredModelIn,
    RegisteredModelOut,
    RegisteredModelPatch,
)
from stackml.store.base import MetadataStore

router = APIRouter(
    prefix=f"{API_PREFIX}/models",
    tags=["registry"],
    dependencies=[Depends(authenticated)],
    responses=ERROR_RESPONSES,
)


def _author(request: Request) -> str | None:
    user = current_user(request)
    return None if user is None else user.name


@router.get("", response_model=list[RegisteredModelOut])
def list_models(store: MetadataStore = Depends(get_metadata)) -> list[RegisteredModelOut]:
    """Every registered model, ordered by name."""
    return [RegisteredModelOut.of(m) for m in store.list_registered_models()]


@router.post("", response_model=RegisteredModelOut, status_code=201)
def create_model(
    body: RegisteredModelIn, store: MetadataStore = Depends(get_metadata)
) -> RegisteredModelOut:
    """Create an empty registered model."""
    model = store.create_registered_model(body.name, description=body.description, tags=body.tags)
    return RegisteredModelOut.of(model)


@router.get("/{name}", response_model=RegisteredModelOut)
def get_model(name: str, store: MetadataStore = Depends(get_metadata)) -> RegisteredModelOut:
    """One registered model with its version count and aliases."""
    return RegisteredModelOut.of(store.get_registered_model(name))


@router.patch("/{name}", response_model=RegisteredModelOut)
def update_model(
    name: str, body: RegisteredModelPatch, store: MetadataStore = Depends(get_metadata)
) -> RegisteredModelOut:
    """Change the description, tags or promotion gates (fields left out are kept)."""
    model = store.update_registered_model(
        name, description=body.description, tags=body.tags, gates=body.gates
    )
    return RegisteredModelOut.of(model)


@router.post("/{name}/versions", response_model=ModelVersionOut, status_code=201)
def create_version(
    name: str,
    body: ModelVersionIn,
    request: Request,
    store: MetadataStore = Depends(get_metadata),
) -> ModelVersionOut:
    """Register a version whose files are artifacts of its run."""
    return ModelVersionOut.of(store.create_model_version(body.draft(name, _author(request))))


@router.get("/{name}/versions", response_model=list[ModelVersionOut])
def list_versions(name: str, store: MetadataStore = Depends(get_metadata)) -> list[ModelVersionOut]:
    """Versions of a model, newest first."""
    return [ModelVersionOut.of(v) for v in store.list_model_versions(name)]


@router.get("/{name}/versions/{version}", response_model=ModelVersionOut)
def get_version(
    name: str, version: int, store: MetadataStore = Depends(get_metadata)
) -> ModelVersionOut:
    """One version by number."""
    return ModelVersionOut.of(store.get_model_version(name, version))


@router.get("/{name}/aliases/{alias}", response_model=AliasTargetOut)
def get_alias(
    name: str, alias: str, store: MetadataStore = Depends(get_metadata)
) -> AliasTargetOut:
    """The version an alias points at."""
    return AliasTargetOut(model=name, alias=alias, version=store.get_model_alias(name, alias))


@router.put("/{name}/aliases/{alias}", response_model=ModelAliasEventOut)
def move_alias(
    name: str,
    alias: str,
    body: AliasMoveIn,
    request: Request,
    store: MetadataStore = Depends(get_metadata),
) -> ModelAliasEventOut:
    """Move an alias (or remove it with ``version: null``) and record who, when and why."""
    author = _author(request) or body.author
    event = store.set_model_alias(
        name,
        alias,
        body.version,
        action=body.action,
        author=author,
        reason=body.reason,
        gates=body.gates,
    )
    return ModelAliasEventOut.of(event)


@router.get("/{name}/alias-history", response_model=list[ModelAliasEventOut])
def alias_history(
    name: str, alias: str | None = None, store: MetadataStore = Depends(get_metadata)
) -> list[ModelAliasEventOut]:
    """Every move of the model's aliases, oldest first."""
    return [ModelAliasEventOut.of(e) for e in store.model_alias_history(name, alias)]
