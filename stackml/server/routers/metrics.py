"""``/api/v1/runs/{run_id}/metrics``: columnar metric batches, histories and summaries."""

from __future__ import annotations

from typing import cast

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from stackml.errors import InvalidInput
from stackml.server.auth import authenticated
from stackml.server.deps import get_metadata
from stackml.server.routers._common import API_PREFIX, ERROR_RESPONSES
from stackml.server.schemas import (
    Accepted,
    MetricBatch,
    MetricSeries,
    MetricSummaryOut,
    encode_float,
)
from stackml.store.base import MetadataStore
from stackml.store.entities import MetricColumns

router = APIRouter(
    prefix=f"{API_PREFIX}/runs/{{run_id}}/metrics",
    tags=["metrics"],
    dependencies=[Depends(authenticated)],
    responses=ERROR_RESPONSES,
)


@router.post(
    "",
    response_model=Accepted,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": MetricBatch.model_json_schema()}},
        }
    },
)
async def log_metrics(
    run_id: str, request: Request, store: MetadataStore = Depends(get_metadata)
) -> Accepted:
    """Append a batch of points given as four equally long columns.

    The body is validated straight from its bytes (pydantic's JSON parser) rather than through
    ``json.loads``: batches are large and this is the hot path of every training loop.
    """
    raw = await request.body()
    try:
        body = MetricBatch.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from exc
    n = len(body.keys)
    if not (len(body.values) == len(body.steps) == len(body.timestamps) == n):
        raise InvalidInput("keys, values, steps and timestamps must have the same length")
    await run_in_threadpool(_write, store, run_id, body)
    return Accepted(count=n)


def _write(store: MetadataStore, run_id: str, body: MetricBatch) -> None:
    # "NaN" / "Infinity" / "-Infinity" stay strings here; the store packs the values into a
    # float64 array, which parses them.
    values = cast("list[float]", body.values)
    columns = MetricColumns.from_flat(body.keys, body.steps, body.timestamps, values)
    store.log_metric_columns(run_id, columns)


@router.get("", response_model=dict[str, MetricSummaryOut])
def metric_summaries(
    run_id: str, store: MetadataStore = Depends(get_metadata)
) -> dict[str, MetricSummaryOut]:
    """Latest, min, max and count of every metric of a run."""
    return {k: MetricSummaryOut.of(s) for k, s in store.metric_summaries(run_id).items()}


@router.get("/history", response_model=MetricSeries)
def metric_history(
    run_id: str, key: str, store: MetadataStore = Depends(get_metadata)
) -> MetricSeries:
    """Every point of one metric in columns, ordered by step then timestamp."""
    points = store.metric_history(run_id, key)
    return MetricSeries(
        keys=[p.key for p in points],
        values=[encode_float(p.value) for p in points],
        steps=[p.step for p in points],
        timestamps=[p.timestamp for p in points],
    )
