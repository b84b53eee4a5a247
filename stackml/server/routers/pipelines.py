"""REST API of the pipelines capability under ``/api/v1``: pipelines, their runs and step runs,
the step cache, schedules and dataset triggers. Bodies and answers are the store's own
records (:mod:`stackml.store.pipelines_base`), so the OpenAPI spec shows their exact shape."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import replace

from fastapi import APIRouter, Depends, FastAPI
from pydantic import BaseModel

from stackml.server.auth import authenticated
from stackml.server.deps import get_metadata
from stackml.server.routers._common import API_PREFIX, ERROR_RESPONSES
from stackml.store.base import MetadataStore
from stackml.store.pipelines_base import (
    CacheEntry,
    DatasetTrigger,
    PipelineInfo,
    PipelineRunInfo,
    PipelineWrites,
    Schedule,
    StepRunInfo,
)

router = APIRouter(
    prefix=API_PREFIX,
    tags=["pipelines"],
    dependencies=[Depends(authenticated)],
    responses=ERROR_RESPONSES,
)


class RunUpdateIn(BaseModel):
    """Fields of a pipeline run that may change."""

    status: str | None = None
    ended_at: int | None = None
    error: str | None = None


class CacheLookupIn(BaseModel):
    """Cache keys to look up."""

    keys: list[str]


class ClaimScheduleIn(BaseModel):
    """Compare-and-set of a schedule's next fire time."""

    expected_next: int
    new_next: int
    fired_at: int


class AdvanceTriggerIn(BaseModel):
    """Compare-and-set of a trigger's last seen version."""

    expected: int
    new: int


class ClaimedOut(BaseModel):
    """Whether a compare-and-set won."""

    claimed: bool


class DeletedOut(BaseModel):
    """How many rows were removed."""

    deleted: int


@router.get("/pipelines", response_model=list[PipelineInfo])
def list_pipelines(store: MetadataStore = Depends(get_metadata)) -> list[PipelineInfo]:
    """Every pipeline, ordered by name."""
    return store.list_pipelines()


@router.put("/pipelines/{name}", response_model=PipelineInfo)
def save_pipeline(
    name: str, body: PipelineInfo, store: MetadataStore = Depends(get_metadata)
) -> PipelineInfo:
    """Create or update a pipeline."""
    return store.save_pipeline(replace(body, name=name))


@router.get("/pipelines/{name}", response_model=PipelineInfo)
def get_pipeline(name: str, store: MetadataStore = Depends(get_metadata)) -> PipelineInfo:
    """One pipeline."""
    return store.get_pipeline(name)


@router.delete("/pipelines/{name}/cache", response_model=DeletedOut)
def delete_cache(
    name: str, step: str | None = None, store: MetadataStore = Depends(get_metadata)
) -> DeletedOut:
    """Forget the cached outputs of a pipeline, or of one of its steps."""
    return DeletedOut(deleted=store.delete_cache_entries(name, step))


@router.post("/pipeline-runs", response_model=PipelineRunInfo, status_code=201)
def create_run(
    body: PipelineRunInfo, store: MetadataStore = Depends(get_metadata)
) -> PipelineRunInfo:
    """Record a new pipeline run."""
    return store.create_pipeline_run(body)


@router.get("/pipeline-runs", response_model=list[PipelineRunInfo])
def list_runs(
    pipeline: str | None = None, limit: int = 50, store: MetadataStore = Depends(get_metadata)
) -> list[PipelineRunInfo]:
    """Pipeline runs, newest first."""
    return store.list_pipeline_runs(pipeline, limit=limit)


@router.get("/pipeline-runs/{run_id}", response_model=PipelineRunInfo)
def get_run(run_id: str, store: MetadataStore = Depends(get_metadata)) -> PipelineRunInfo:
    """One pipeline run."""
    return store.get_pipeline_run(run_id)


@router.patch("/pipeline-runs/{run_id}", response_model=PipelineRunInfo)
def update_run(
    run_id: str, body: RunUpdateIn, store: MetadataStore = Depends(get_metadata)
) -> PipelineRunInfo:
    """Change a pipeline run's status, end time or error."""
    return store.update_pipeline_run(
        run_id, status=body.status, ended_at=body.ended_at, error=body.error
    )


@router.get("/pipeline-runs/{run_id}/steps", response_model=list[StepRunInfo])
def list_steps(run_id: str, store: MetadataStore = Depends(get_metadata)) -> list[StepRunInfo]:
    """The step runs of a pipeline run."""
    return store.list_step_runs(run_id)


@router.put("/pipeline-steps", response_model=DeletedOut)
def save_steps(body: list[StepRunInfo], store: MetadataStore = Depends(get_metadata)) -> DeletedOut:
    """Create or replace step runs (the answer's count is 0: nothing is deleted)."""
    store.save_step_runs(body)
    return DeletedOut(deleted=0)


@router.put("/pipeline-writes", response_model=DeletedOut)
def write_records(body: PipelineWrites, store: MetadataStore = Depends(get_metadata)) -> DeletedOut:
    """Step runs, cache entries, artifacts, lineage edges and run closures in one transaction."""
    store.write_pipeline_records(body)
    return DeletedOut(deleted=0)


@router.post("/pipeline-cache/lookup", response_model=list[CacheEntry])
def lookup_cache(
    body: CacheLookupIn, store: MetadataStore = Depends(get_metadata)
) -> list[CacheEntry]:
    """The cache entries found for some keys."""
    return list(store.get_cache_entries(body.keys).values())


@router.put("/pipeline-cache", response_model=CacheEntry)
def put_cache(body: CacheEntry, store: MetadataStore = Depends(get_metadata)) -> CacheEntry:
    """Store the outputs of a cache key."""
    return store.put_cache_entry(body)


@router.get("/pipeline-schedules", response_model=list[Schedule])
def list_schedules(store: MetadataStore = Depends(get_metadata)) -> list[Schedule]:
    """Every schedule."""
    return store.list_schedules()


@router.put("/pipelines/{name}/schedule", response_model=Schedule)
def save_schedule(
    name: str, body: Schedule, store: MetadataStore = Depends(get_metadata)
) -> Schedule:
    """Create or replace a pipeline's schedule."""
    return store.save_schedule(replace(body, pipeline=name))


@router.delete("/pipelines/{name}/schedule", response_model=DeletedOut)
def delete_schedule(name: str, store: MetadataStore = Depends(get_metadata)) -> DeletedOut:
    """Remove a pipeline's schedule."""
    store.delete_schedule(name)
    return DeletedOut(deleted=1)


@router.post("/pipelines/{name}/schedule/claim", response_model=ClaimedOut)
def claim_schedule(
    name: str, body: ClaimScheduleIn, store: MetadataStore = Depends(get_metadata)
) -> ClaimedOut:
    """Move a schedule's next fire time if nobody else did."""
    won = store.claim_schedule(name, body.expected_next, body.new_next, body.fired_at)
    return ClaimedOut(claimed=won)


@router.get("/pipeline-triggers", response_model=list[DatasetTrigger])
def list_triggers(
    dataset: str | None = None, store: MetadataStore = Depends(get_metadata)
) -> list[DatasetTrigger]:
    """Dataset triggers."""
    return store.list_triggers(dataset)


@router.put("/pipelines/{name}/triggers/{dataset}", response_model=DatasetTrigger)
def save_trigger(
    name: str, dataset: str, body: DatasetTrigger, store: MetadataStore = Depends(get_metadata)
) -> DatasetTrigger:
    """Create or replace a dataset trigger."""
    return store.save_trigger(replace(body, pipeline=name, dataset=dataset))


@router.delete("/pipelines/{name}/triggers/{dataset}", response_model=DeletedOut)
def delete_trigger(
    name: str, dataset: str, store: MetadataStore = Depends(get_metadata)
) -> DeletedOut:
    """Remove a dataset trigger."""
    store.delete_trigger(name, dataset)
    return DeletedOut(deleted=1)


@router.post("/pipelines/{name}/triggers/{dataset}/advance", response_model=ClaimedOut)
def advance_trigger(
    name: str, dataset: str, body: AdvanceTriggerIn, store: MetadataStore = Depends(get_metadata)
) -> ClaimedOut:
    """Move a trigger's last seen version if nobody else did."""
    return ClaimedOut(claimed=store.advance_trigger(name, dataset, body.expected, body.new))


@contextlib.asynccontextmanager
async def scheduler_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Run the pipeline scheduler (cron schedules, dataset triggers) while the app serves.

    ``app.state.scheduler_poll_s`` (seconds between looks, default 5) and
    ``app.state.scheduler_clock`` (a ``time.time``-like callable) tune it;
    ``app.state.scheduler_enabled = False`` turns it off.
    """
    from stackml.pipelines.scheduler import Scheduler

    scheduler = None
    if getattr(app.state, "scheduler_enabled", True):
        scheduler = Scheduler(
            app.state.store,
            clock=getattr(app.state, "scheduler_clock", time.time),
            poll_s=float(getattr(app.state, "scheduler_poll_s", 5.0)),
        ).start()
        app.state.pipeline_scheduler = scheduler
    try:
        yield
    finally:
        if scheduler is not None:
            scheduler.stop()
