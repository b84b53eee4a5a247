"""``/api/v1/runs``: runs, their params and tags, and search."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request

from stackml.server.auth import authenticated, current_user
from stackml.server.deps import get_metadata
from stackml.server.routers._common import API_PREFIX, ERROR_RESPONSES
from stackml.server.schemas import Done, RunIn, RunOut, RunPageOut, RunSearch, RunUpdate, StringMap
from stackml.store.base import MetadataStore

router = APIRouter(
    prefix=f"{API_PREFIX}/runs",
    tags=["runs"],
    dependencies=[Depends(authenticated)],
    responses=ERROR_RESPONSES,
)


@router.post("", response_model=RunOut, status_code=201)
def create_run(
    body: RunIn, request: Request, store: MetadataStore = Depends(get_metadata)
) -> RunOut:
    """Create a running run (the project and experiment are created if missing)."""
    user = body.user
    caller = current_user(request)
    if user is None and caller is not None:
        user = caller.name  # with auth on, runs belong to the token's owner by default
    run = store.create_run(
        body.project,
        experiment=body.experiment,
        name=body.name,
        user=user,
        parent_id=body.parent_id,
        tags=body.tags,
        params=body.params,
        start_time=body.start_time,
    )
    return RunOut.of(run)


@router.post("/search", response_model=RunPageOut)
def search_runs(body: RunSearch, store: MetadataStore = Depends(get_metadata)) -> RunPageOut:
    """Runs matching a filter, sorted and paginated."""
    page = store.search_runs(
        project=body.project,
        experiment_ids=body.experiment_ids,
        filter=body.filter,
        order_by=body.order_by,
        limit=body.limit,
        page_token=body.page_token,
    )
    return RunPageOut(runs=[RunOut.of(r) for r in page.runs], next_page_token=page.next_page_token)


@router.get("/{run_id}", response_model=RunOut)
def get_run(run_id: str, store: MetadataStore = Depends(get_metadata)) -> RunOut:
    """A run with its params, tags and metric summaries."""
    return RunOut.of(store.get_run(run_id))


@router.patch("/{run_id}", response_model=RunOut)
def update_run(
    run_id: str, body: RunUpdate, store: MetadataStore = Depends(get_metadata)
) -> RunOut:
    """Change a run's status, end time or name."""
    run = store.update_run(run_id, status=body.status, end_time=body.end_time, name=body.name)
    return RunOut.of(run)


@router.delete("/{run_id}", response_model=Done)
def delete_run(run_id: str, store: MetadataStore = Depends(get_metadata)) -> Done:
    """Delete a run and everything that belongs to it."""
    store.delete_run(run_id)
    return Done()


@router.post("/{run_id}/params", response_model=Done)
def log_params(run_id: str, body: StringMap, store: MetadataStore = Depends(get_metadata)) -> Done:
    """Set params; a different value for an existing param is a conflict."""
    store.log_params(run_id, body.values)
    return Done()


@router.post("/{run_id}/tags", response_model=Done)
def set_tags(run_id: str, body: StringMap, store: MetadataStore = Depends(get_metadata)) -> Done:
    """Set or overwrite tags."""
    store.set_tags(run_id, body.values)
    return Done()


@router.delete("/{run_id}/tags", response_model=Done)
def delete_tag(
    run_id: str,
    key: str = Query(description="the tag key (a query parameter: keys may contain '/')"),
    store: MetadataStore = Depends(get_metadata),
) -> Done:
    """Remove a tag."""
    store.delete_tag(run_id, key)
    return Done()
