"""``/api/v1/deployments``: serving deployments, their prediction-log chunks and feedback.

``stackml serve`` reports its deployment and heartbeat here when it logs to a server, and
writes prediction chunks and feedback through these routes.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from stackml.server.auth import authenticated
from stackml.server.deps import get_metadata
from stackml.server.routers._common import API_PREFIX, ERROR_RESPONSES
from stackml.server.schemas import Done
from stackml.server.schemas_serving import (
    ChunkIn,
    ChunkOut,
    DeploymentIn,
    DeploymentOut,
    FeedbackIn,
    FeedbackOut,
    FeedbackQuery,
)
from stackml.store.base import MetadataStore

router = APIRouter(
    prefix=API_PREFIX + "/deployments",
    tags=["serving"],
    responses=ERROR_RESPONSES,
    dependencies=[Depends(authenticated)],
)


@router.get("", response_model=list[DeploymentOut])
def list_deployments(store: MetadataStore = Depends(get_metadata)) -> list[DeploymentOut]:
    """Every deployment, most recent heartbeat first."""
    return [DeploymentOut.of(d) for d in store.list_deployments()]


@router.get("/{name}", response_model=DeploymentOut)
def get_deployment(name: str, store: MetadataStore = Depends(get_metadata)) -> DeploymentOut:
    """One deployment with its last live-metrics snapshot."""
    return DeploymentOut.of(store.get_deployment(name))


@router.put("/{name}", response_model=DeploymentOut)
def record_deployment(
    name: str, body: DeploymentIn, store: MetadataStore = Depends(get_metadata)
) -> DeploymentOut:
    """Create or refresh a deployment (its heartbeat)."""
    found = store.record_deployment(
        name,
        url=body.url,
        models=body.models,
        status=body.status,
        config=body.config,
        metrics=body.metrics,
    )
    return DeploymentOut.of(found)


@router.delete("/{name}", response_model=Done)
def delete_deployment(name: str, store: MetadataStore = Depends(get_metadata)) -> Done:
    """Forget a deployment; its logged predictions stay."""
    store.delete_deployment(name)
    return Done()


@router.post("/{name}/prediction-chunks", response_model=ChunkOut)
def add_prediction_chunk(
    name: str, body: ChunkIn, store: MetadataStore = Depends(get_metadata)
) -> ChunkOut:
    """Index a Parquet chunk of logged predictions already uploaded as a blob."""
    chunk = store.add_prediction_chunk(
        name,
        start_ms=body.start_ms,
        end_ms=body.end_ms,
        num_rows=body.num_rows,
        parquet_hash=body.parquet_hash,
        tensor_blob=body.tensor_blob,
    )
    return ChunkOut.of(chunk)


@router.get("/{name}/prediction-chunks", response_model=list[ChunkOut])
def list_prediction_chunks(
    name: str,
    since_ms: int | None = Query(default=None, ge=0),
    until_ms: int | None = Query(default=None, ge=0),
    store: MetadataStore = Depends(get_metadata),
) -> list[ChunkOut]:
    """Chunks that may hold predictions in the time range, oldest first."""
    return [ChunkOut.of(c) for c in store.list_prediction_chunks(name, since_ms, until_ms)]


@router.post("/{name}/feedback", response_model=FeedbackOut)
def add_feedback(
    name: str, body: FeedbackIn, store: MetadataStore = Depends(get_metadata)
) -> FeedbackOut:
    """Attach a ground-truth label or a flag to a served request."""
    return FeedbackOut.of(store.add_feedback(name, body.request_id, body.label, body.flag))


@router.post("/{name}/feedback/query", response_model=list[FeedbackOut])
def list_feedback(
    name: str, body: FeedbackQuery, store: MetadataStore = Depends(get_metadata)
) -> list[FeedbackOut]:
    """Feedback of a deployment, optionally only for some request ids."""
    found = store.list_feedback(
        name, request_ids=body.request_ids, since_ms=body.since_ms, limit=body.limit
    )
    return [FeedbackOut.of(f) for f in found]
