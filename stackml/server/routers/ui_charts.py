"""``/api/v1/runs/{run_id}/metrics/series``: chart data, downsampled on the server.

A chart asks for ``max_points`` about its width in pixels; the store reads the metric's packed
chunks as NumPy arrays (only those overlapping the step range) and MinMaxLTTB keeps the
points that shape the line. Zooming asks again for the visible range, which is exact once it
holds fewer points than the budget. Without ``max_points`` the whole range comes back (what
:meth:`RestMetadataStore.metric_history_arrays` reads).
"""

from __future__ import annotations

import json

import numpy as np
from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel

from stackml.server.auth import authenticated
from stackml.server.deps import get_metadata
from stackml.server.routers._common import API_PREFIX, ERROR_RESPONSES
from stackml.server.schemas import WireFloat, encode_float
from stackml.store.base import MetadataStore
from stackml.store.series import MAX_POINTS, MIN_POINTS, downsample

router = APIRouter(
    prefix=f"{API_PREFIX}/runs/{{run_id}}/metrics",
    tags=["metrics"],
    dependencies=[Depends(authenticated)],
    responses=ERROR_RESPONSES,
)


class SeriesOut(BaseModel):
    """One metric's points in columns, possibly downsampled."""

    key: str
    steps: list[int]
    timestamps: list[int]
    values: list[WireFloat | None]
    total: int
    downsampled: bool


def _floats(values: np.ndarray) -> list[float | str]:
    if bool(np.isfinite(values).all()):
        return values.tolist()  # type: ignore[no-any-return]
    return [encode_float(v) for v in values.tolist()]


@router.get("/series", response_model=SeriesOut)
def metric_series(
    run_id: str,
    key: str = Query(description="the metric key"),
    start_step: int | None = Query(None, description="first step of the range (inclusive)"),
    end_step: int | None = Query(None, description="last step of the range (inclusive)"),
    max_points: int | None = Query(
        None,
        ge=MIN_POINTS,
        le=MAX_POINTS,
        description="downsample to about this many points (MinMaxLTTB); omit for all points",
    ),
    store: MetadataStore = Depends(get_metadata),
) -> Response:
    """A metric's points in a step range, downsampled to ``max_points`` when given."""
    arrays = store.metric_history_arrays(run_id, key, start_step=start_step, end_step=end_step)
    shown = arrays if max_points is None else downsample(arrays, max_points)
    body = {
        "key": key,
        "steps": shown.steps.tolist(),
        "timestamps": shown.timestamps.tolist(),
        "values": _floats(shown.values),
        "total": arrays.total,
        "downsampled": len(shown) < arrays.total,
    }
    # Encoded by hand: validating a million-point answer through pydantic would cost more than
    # reading it; the shape is the declared SeriesOut.
    return Response(json.dumps(body, separators=(",", ":")), media_type="application/json")
