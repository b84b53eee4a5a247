"""``runs/search`` and ``metrics/get-history``.

Search translates MLflow's filter and order into stackml's (:mod:`.filters`) and runs one
store query per page; deleted runs are kept out (or selected) by the lifecycle tag in the same
query. Page tokens are the store's own, so paging over 50,000-run pages costs one query each.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends

from stackml.server.deps import get_metadata
from stackml.server.mlflow import experiments
from stackml.server.mlflow.common import (
    DELETED,
    LIFECYCLE_TAG,
    Body,
    decode_offset,
    encode_offset,
    integer,
    mlflow_body,
    mlflow_router,
    strings,
    text,
    wire,
)
from stackml.server.mlflow.errors import MlflowError
from stackml.server.mlflow.filters import translate_filter, translate_order_by
from stackml.server.mlflow.runs import get, run_json
from stackml.store.base import MetadataStore

router = mlflow_router()

MAX_SEARCH_RESULTS = 50_000
_LIFECYCLE = f"tags.`{LIFECYCLE_TAG}`"


def _with_view(filter_text: str | None, view: str) -> str | None:
    view = view.upper()
    if view == "ALL":
        return filter_text
    if view == "ACTIVE_ONLY":
        clause = f"{_LIFECYCLE} IS NULL"
    elif view == "DELETED_ONLY":
        clause = f"{_LIFECYCLE} = '{DELETED}'"
    else:
        raise MlflowError(f"Invalid run_view_type {view!r}: use ACTIVE_ONLY, DELETED_ONLY or ALL.")
    return clause if filter_text is None else f"({filter_text}) and {clause}"


@router.post("/runs/search", response_model=dict[str, Any])
def search_runs(
    body: Body = Depends(mlflow_body), store: MetadataStore = Depends(get_metadata)
) -> dict[str, Any]:
    """``runs/search``: MLflow's filter language, ``order_by``, up to 50,000 runs a page."""
    max_results = integer(body, "max_results", 1000)
    if not 1 <= max_results <= MAX_SEARCH_RESULTS:
        raise MlflowError(
            f"Invalid value {max_results} for parameter 'max_results' supplied. It must be "
            f"at most {MAX_SEARCH_RESULTS}."
        )
    ids = [experiments.resolve(store, e).id for e in strings(body, "experiment_ids")]
    if not ids:
        return {"runs": []}
    filter_text = _with_view(
        translate_filter(text(body, "filter", required=False)),
        str(body.get("run_view_type") or "ACTIVE_ONLY"),
    )
    page = store.search_runs(
        experiment_ids=ids,
        filter=filter_text,
        order_by=translate_order_by(strings(body, "order_by")),
        limit=max_results,
        page_token=text(body, "page_token", required=False) or None,
    )
    answer: dict[str, Any] = {"runs": [run_json(run) for run in page.runs]}
    if page.next_page_token:
        answer["next_page_token"] = page.next_page_token
    return answer


@router.get("/metrics/get-history", response_model=dict[str, Any])
def get_metric_history(
    body: Body = Depends(mlflow_body), store: MetadataStore = Depends(get_metadata)
) -> dict[str, Any]:
    """``metrics/get-history``: every point, or pages of ``max_results`` with a token."""
    run_id = text(body, "run_id", required=False) or text(body, "run_uuid")
    key = text(body, "metric_key")
    max_results = integer(body, "max_results", None)
    if max_results is not None and not 1 <= max_results <= 25_000_000:
        raise MlflowError("max_results must be a positive integer.")
    get(store, run_id)
    arrays = store.metric_history_arrays(run_id, key)
    scope = f"history:{run_id}:{key}"
    start = decode_offset(text(body, "page_token", required=False), scope)
    end = len(arrays.steps) if max_results is None else min(start + max_results, len(arrays.steps))
    steps = arrays.steps[start:end].tolist()
    stamps = arrays.timestamps[start:end].tolist()
    values = arrays.values[start:end].tolist()
    answer: dict[str, Any] = {
        "metrics": [
            {"key": key, "value": wire(v), "timestamp": t, "step": s}
            for s, t, v in zip(steps, stamps, values, strict=True)
        ]
    }
    if end < len(arrays.steps):
        answer["next_page_token"] = encode_offset(end, scope)
    return answer


@router.post("/logged-models/search", response_model=dict[str, Any])
def search_logged_models(
    body: Body = Depends(mlflow_body), store: MetadataStore = Depends(get_metadata)
) -> dict[str, Any]:
    """``logged-models/search``: MLflow 3 logged models are not kept, so there are none.

    The client asks for them while listing a run's artifacts through ``runs:/`` URIs; an empty
    answer lets it fall back to the run's own artifacts.
    """
    for experiment_id in strings(body, "experiment_ids"):
        experiments.resolve(store, experiment_id)
    return {"models": []}
