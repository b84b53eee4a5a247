"""``/api/v1/experiments``."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from stackml.server.auth import authenticated
from stackml.server.deps import get_metadata
from stackml.server.routers._common import API_PREFIX, ERROR_RESPONSES
from stackml.server.schemas import Done, ExperimentIn, ExperimentOut, StringMap
from stackml.store.base import MetadataStore

router = APIRouter(
    prefix=API_PREFIX,
    tags=["experiments"],
    dependencies=[Depends(authenticated)],
    responses=ERROR_RESPONSES,
)


@router.post("/experiments", response_model=ExperimentOut, status_code=201)
def create_experiment(
    body: ExperimentIn, store: MetadataStore = Depends(get_metadata)
) -> ExperimentOut:
    """Create an experiment in an existing project."""
    return ExperimentOut.of(store.create_experiment(body.project, body.name, body.tags))


@router.get("/experiments", response_model=list[ExperimentOut])
def list_experiments(
    project: str | None = None, store: MetadataStore = Depends(get_metadata)
) -> list[ExperimentOut]:
    """Experiments, optionally of one project, ordered by creation time."""
    return [ExperimentOut.of(e) for e in store.list_experiments(project)]


@router.get("/experiments/{experiment_id}", response_model=ExperimentOut)
def get_experiment(
    experiment_id: str, store: MetadataStore = Depends(get_metadata)
) -> ExperimentOut:
    """One experiment by id."""
    return ExperimentOut.of(store.get_experiment(experiment_id))


@router.get("/projects/{project}/experiments/{name}", response_model=ExperimentOut)
def get_experiment_by_name(
    project: str, name: str, store: MetadataStore = Depends(get_metadata)
) -> ExperimentOut:
    """One experiment by project and name."""
    return ExperimentOut.of(store.get_experiment_by_name(project, name))


@router.post("/experiments/{experiment_id}/tags", response_model=ExperimentOut)
def set_experiment_tags(
    experiment_id: str, body: StringMap, store: MetadataStore = Depends(get_metadata)
) -> ExperimentOut:
    """Set or overwrite tags of an experiment."""
    return ExperimentOut.of(store.set_experiment_tags(experiment_id, body.values))


@router.delete("/experiments/{experiment_id}/tags", response_model=Done)
def delete_experiment_tag(
    experiment_id: str,
    key: str = Query(description="the tag key (a query parameter: keys may contain '/')"),
    store: MetadataStore = Depends(get_metadata),
) -> Done:
    """Remove a tag of an experiment."""
    store.delete_experiment_tag(experiment_id, key)
    return Done()
