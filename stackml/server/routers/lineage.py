"""``/api/v1/lineage``: typed edges of the lineage graph."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends

from stackml.server.auth import authenticated
from stackml.server.deps import get_metadata
from stackml.server.routers._common import API_PREFIX, ERROR_RESPONSES
from stackml.server.schemas import LineageEdgeIn, LineageEdgeOut
from stackml.store.base import MetadataStore
from stackml.store.entities import LineageEdge

router = APIRouter(
    prefix=f"{API_PREFIX}/lineage",
    tags=["lineage"],
    dependencies=[Depends(authenticated)],
    responses=ERROR_RESPONSES,
)


@router.post("", response_model=LineageEdgeOut)
def add_lineage(
    body: LineageEdgeIn, store: MetadataStore = Depends(get_metadata)
) -> LineageEdgeOut:
    """Record an edge; adding the same edge twice is a no-op."""
    edge = LineageEdge(**body.model_dump())
    return LineageEdgeOut.of(store.add_lineage(edge))


@router.get("", response_model=list[LineageEdgeOut])
def list_lineage(
    entity_type: str,
    entity_id: str,
    direction: Literal["upstream", "downstream", "both"] = "both",
    store: MetadataStore = Depends(get_metadata),
) -> list[LineageEdgeOut]:
    """Edges touching an entity."""
    edges = store.list_lineage(entity_type, entity_id, direction=direction)
    return [LineageEdgeOut.of(e) for e in edges]
