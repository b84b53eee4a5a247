"""``/api/v1/projects/{project}/baselines`` and ``/api/v1/projects/{project}/metric-definition``:
a project's reference scores and the single number its runs are compared by."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from stackml.server.auth import authenticated
from stackml.server.deps import get_metadata
from stackml.server.routers._common import API_PREFIX, ERROR_RESPONSES
from stackml.server.schemas import Done
from stackml.server.schemas_training import BaselineIn, BaselineOut, DefinitionIn, DefinitionOut
from stackml.store.base import MetadataStore

router = APIRouter(
    prefix=API_PREFIX + "/projects",
    tags=["training"],
    responses=ERROR_RESPONSES,
    dependencies=[Depends(authenticated)],
)


@router.get("/{project}/baselines", response_model=list[BaselineOut])
def list_baselines(project: str, store: MetadataStore = Depends(get_metadata)) -> list[BaselineOut]:
    """The project's baselines by name."""
    return [BaselineOut.of(b) for b in store.list_baselines(project)]


@router.put("/{project}/baselines/{name}", response_model=BaselineOut)
def set_baseline(
    project: str, name: str, body: BaselineIn, store: MetadataStore = Depends(get_metadata)
) -> BaselineOut:
    """Create or replace a baseline."""
    found = store.set_baseline(
        project, name, kind=body.kind, metrics=body.metrics, source=body.source
    )
    return BaselineOut.of(found)


@router.delete("/{project}/baselines/{name}", response_model=Done)
def delete_baseline(project: str, name: str, store: MetadataStore = Depends(get_metadata)) -> Done:
    """Delete a baseline."""
    store.delete_baseline(project, name)
    return Done()


@router.get("/{project}/metric-definition", response_model=DefinitionOut)
def get_metric_definition(
    project: str, store: MetadataStore = Depends(get_metadata)
) -> DefinitionOut:
    """The project's metric definition."""
    return DefinitionOut.of(store.get_metric_definition(project))


@router.put("/{project}/metric-definition", response_model=DefinitionOut)
def set_metric_definition(
    project: str, body: DefinitionIn, store: MetadataStore = Depends(get_metadata)
) -> DefinitionOut:
    """Validate and store the project's metric definition."""
    return DefinitionOut.of(store.set_metric_definition(project, body.to_definition()))
