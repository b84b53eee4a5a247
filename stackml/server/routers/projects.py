"""``/api/v1/projects``."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from stackml.server.auth import authenticated
from stackml.server.deps import get_metadata
from stackml.server.routers._common import API_PREFIX, ERROR_RESPONSES
from stackml.server.schemas import ProjectIn, ProjectOut
from stackml.store.base import MetadataStore

router = APIRouter(
    prefix=f"{API_PREFIX}/projects",
    tags=["projects"],
    dependencies=[Depends(authenticated)],
    responses=ERROR_RESPONSES,
)


@router.post("", response_model=ProjectOut, status_code=201)
def create_project(body: ProjectIn, store: MetadataStore = Depends(get_metadata)) -> ProjectOut:
    """Create a project."""
    return ProjectOut.of(store.create_project(body.name, body.description))


@router.get("", response_model=list[ProjectOut])
def list_projects(store: MetadataStore = Depends(get_metadata)) -> list[ProjectOut]:
    """All projects, ordered by name."""
    return [ProjectOut.of(p) for p in store.list_projects()]


@router.get("/{name}", response_model=ProjectOut)
def get_project(name: str, store: MetadataStore = Depends(get_metadata)) -> ProjectOut:
    """One project."""
    return ProjectOut.of(store.get_project(name))
