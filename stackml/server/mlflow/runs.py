"""MLflow runs mapped onto stackml runs: create, get, update, delete, restore and logging.

A run logged through MLflow is an ordinary stackml run. Its params, tags and metrics are
stored as sent (MLflow's ``mlflow.*`` system tags included); the run name is the stackml run
name, and ``runs/delete`` marks the run with the ``stackml.lifecycle`` tag so that
``runs/restore`` can bring it back (``stackml runs rm`` deletes for good).
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request

from stackml._internal.timeutil import now_ms
from stackml.errors import Conflict, NotFound
from stackml.server.auth import current_user
from stackml.server.deps import get_metadata
from stackml.server.mlflow import experiments
from stackml.server.mlflow.common import (
    DELETED,
    HIDDEN_TAGS,
    LIFECYCLE_TAG,
    Body,
    integer,
    key_values,
    mlflow_body,
    mlflow_router,
    number,
    text,
    wire,
)
from stackml.server.mlflow.errors import MlflowError
from stackml.server.mlflow.filters import TO_MLFLOW_STATUS, TO_STACKML_STATUS
from stackml.store.base import MetadataStore
from stackml.store.entities import LineageEdge, MetricColumns, Run, RunStatus

router = mlflow_router()

RUN_NAME_TAG = "mlflow.runName"
#: MLflow's limits (``mlflow.utils.validation``), enforced as its server does.
MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_TAGS_PER_BATCH = 100
MAX_ENTITIES_PER_BATCH = 1000
MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
DATASET_SOURCE = "mlflow_dataset"


def artifact_uri(run: Run) -> str:
    """Where MLflow clients put a run's artifacts: the server's artifact proxy."""
    return f"mlflow-artifacts:/{run.experiment_id}/{run.id}/artifacts"


def run_info(run: Run) -> dict[str, Any]:
    """An MLflow ``RunInfo`` message."""
    info: dict[str, Any] = {
        "run_id": run.id,
        "run_uuid": run.id,
        "run_name": run.name,
        "experiment_id": run.experiment_id,
        "user_id": run.user,
        "status": TO_MLFLOW_STATUS[run.status.value],
        "start_time": run.start_time,
        "artifact_uri": artifact_uri(run),
        "lifecycle_stage": DELETED if run.tags.get(LIFECYCLE_TAG) == DELETED else "active",
    }
    if run.end_time is not None:
        info["end_time"] = run.end_time
    return info


def run_json(run: Run, dataset_inputs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """An MLflow ``Run`` message: info, data (latest metric values) and inputs."""
    tags = {k: v for k, v in run.tags.items() if k not in HIDDEN_TAGS}
    tags.setdefault(RUN_NAME_TAG, run.name)
    data = {
        "metrics": [
            {
                "key": key,
                "value": wire(m.latest),
                "timestamp": m.latest_timestamp,
                "step": m.latest_step,
            }
            for key, m in run.metrics.items()
        ],
        "params": [{"key": k, "value": v} for k, v in run.params.items()],
        "tags": [{"key": k, "value": v} for k, v in tags.items()],
    }
    return {
        "info": run_info(run),
        "data": data,
        "inputs": {"dataset_inputs": dataset_inputs or []},
    }


def dataset_inputs(store: MetadataStore, run_id: str) -> list[dict[str, Any]]:
    """The datasets ``runs/log-inputs`` recorded, rebuilt from the run's lineage edges."""
    edges = store.list_lineage("run", run_id, direction="upstream")
    return [
        {"tags": e.properties.get("tags", []), "dataset": e.properties.get("dataset", {})}
        for e in edges
        if e.source_type == DATASET_SOURCE
    ]


def _status(value: Any) -> RunStatus:
    status = TO_STACKML_STATUS.get(str(value).upper())
    if status is None:
        raise MlflowError(f"Invalid run status {value!r}.")
    return RunStatus(status)


def _check_key(key: str, what: str) -> None:
    if len(key) > MAX_KEY_LENGTH:
        raise MlflowError(f"{what} '{key[:50]}...' exceeds the maximum length of {MAX_KEY_LENGTH}.")


def _check_tags(tags: list[tuple[str, str]]) -> None:
    for key, value in tags:
        _check_key(key, "Tag key")
        if key in HIDDEN_TAGS:
            raise MlflowError(f"Tag key {key!r} is reserved.")
        if len(value) > MAX_TAG_VALUE_LENGTH:
            raise MlflowError(f"Tag value for {key!r} exceeds {MAX_TAG_VALUE_LENGTH} characters.")


def _check_params(params: list[tuple[str, str]]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for key, value in params:
        _check_key(key, "Param key")
        if len(value) > MAX_PARAM_VALUE_LENGTH:
            raise MlflowError(
                f"Param value for {key!r} exceeds {MAX_PARAM_VALUE_LENGTH} characters."
            )
        if merged.get(key, value) != value:
            raise MlflowError(f"Duplicate parameter keys with different values: {key!r}.")
        merged[key] = value
    return merged


def _log_params(store: MetadataStore, run_id: str, params: dict[str, str]) -> None:
    try:
        store.log_params(run_id, params)
    except Conflict as exc:
        # MLflow's wording: params are immutable, re-sending the same value is fine.
        raise MlflowError(f"Changing param values is not allowed. {exc}") from exc


def _metric_columns(items: Any) -> dict[str, MetricColumns]:
    if not isinstance(items, list):
        raise MlflowError("Invalid value for parameter 'metrics': expected a list.")
    keys, steps, stamps, values = [], [], [], []
    for item in items:
        if not isinstance(item, dict):
            raise MlflowError(f"Invalid metric {item!r}: expected an object.")
        key = text(item, "key")
        _check_key(key, "Metric name")
        keys.append(key)
        values.append(number(item.get("value"), f"metric {key!r}"))
        stamps.append(integer(item, "timestamp", None) or now_ms())
        steps.append(integer(item, "step", 0))
    return MetricColumns.from_flat(keys, steps, stamps, values)


def _run_id(body: Body) -> str:
    run_id = body.get("run_id") or body.get("run_uuid")
    if not isinstance(run_id, str) or not run_id:
        raise MlflowError("Missing value for required parameter 'run_id'.")
    return run_id


def get(store: MetadataStore, run_id: str) -> Run:
    """The run, with MLflow's message when it does not exist."""
    try:
        return store.get_run(run_id)
    except NotFound:
        raise NotFound(f"Run '{run_id}' not found") from None


# -- routes -----------------------------------------------------------------------------
@router.post("/runs/create", response_model=dict[str, Any])
def create_run(
    request: Request,
    body: Body = Depends(mlflow_body),
    store: MetadataStore = Depends(get_metadata),
) -> dict[str, Any]:
    """``runs/create``."""
    experiment = experiments.resolve(
        store, text(body, "experiment_id", default="0", required=False) or "0"
    )
    if experiments.is_deleted(experiment):
        raise MlflowError(f"The experiment {experiment.id} must be in the 'active' state.")
    tags = key_values(body, "tags")
    _check_tags(tags)
    tag_map = dict(tags)
    name = text(body, "run_name", required=False) or tag_map.get(RUN_NAME_TAG) or None
    user = text(body, "user_id", required=False) or tag_map.get("mlflow.user")
    caller = current_user(request)
    if caller is not None:
        user = caller.name
    parent = tag_map.get("mlflow.parentRunId") or None
    run = store.create_run(
        experiment.project,
        experiment=experiment.name,
        name=name,
        user=user or "unknown",
        parent_id=parent,
        tags=tag_map,
        start_time=integer(body, "start_time", None),
    )
    return {"run": run_json(run)}


@router.get("/runs/get", response_model=dict[str, Any])
def get_run(
    body: Body = Depends(mlflow_body), store: MetadataStore = Depends(get_metadata)
) -> dict[str, Any]:
    """``runs/get``."""
    run = get(store, _run_id(body))
    return {"run": run_json(run, dataset_inputs(store, run.id))}


@router.post("/runs/update", response_model=dict[str, Any])
def update_run(
    body: Body = Depends(mlflow_body), store: MetadataStore = Depends(get_metadata)
) -> dict[str, Any]:
    """``runs/update``: status, end time, name."""
    run_id = _run_id(body)
    status = None if body.get("status") in (None, "") else _status(body["status"])
    name = text(body, "run_name", required=False) or None
    end_time = integer(body, "end_time", None)
    run = store.update_run(run_id, status=status, end_time=end_time, name=name)
    if name is not None and run.tags.get(RUN_NAME_TAG) not in (None, name):
        store.set_tags(run_id, {RUN_NAME_TAG: name})
    return {"run_info": run_info(run)}


@router.post("/runs/delete", response_model=dict[str, Any])
def delete_run(
    body: Body = Depends(mlflow_body), store: MetadataStore = Depends(get_metadata)
) -> dict[str, Any]:
    """``runs/delete``: marks the run deleted (restorable)."""
    run_id = _run_id(body)
    get(store, run_id)
    store.set_tags(run_id, {LIFECYCLE_TAG: DELETED})
    return {}


@router.post("/runs/restore", response_model=dict[str, Any])
def restore_run(
    body: Body = Depends(mlflow_body), store: MetadataStore = Depends(get_metadata)
) -> dict[str, Any]:
    """``runs/restore``."""
    run_id = _run_id(body)
    if get(store, run_id).tags.get(LIFECYCLE_TAG) == DELETED:
        store.delete_tag(run_id, LIFECYCLE_TAG)
    return {}


@router.post("/runs/log-metric", response_model=dict[str, Any])
def log_metric(
    body: Body = Depends(mlflow_body), store: MetadataStore = Depends(get_metadata)
) -> dict[str, Any]:
    """``runs/log-metric``: appends one point."""
    store.log_metric_columns(_run_id(body), _metric_columns([body]))
    return {}


@router.post("/runs/log-parameter", response_model=dict[str, Any])
def log_parameter(
    body: Body = Depends(mlflow_body), store: MetadataStore = Depends(get_metadata)
) -> dict[str, Any]:
    """``runs/log-parameter``: params are immutable; the same value again is accepted."""
    params = _check_params([(text(body, "key"), body.get("value") or "")])
    _log_params(store, _run_id(body), params)
    return {}


@router.post("/runs/set-tag", response_model=dict[str, Any])
def set_tag(
    body: Body = Depends(mlflow_body), store: MetadataStore = Depends(get_metadata)
) -> dict[str, Any]:
    """``runs/set-tag``: overwrites; ``mlflow.runName`` renames the run."""
    key, value = text(body, "key"), body.get("value") or ""
    if not isinstance(value, str):
        raise MlflowError("Invalid value for parameter 'value': expected a string.")
    _check_tags([(key, value)])
    run_id = _run_id(body)
    store.set_tags(run_id, {key: value})
    if key == RUN_NAME_TAG and value:
        store.update_run(run_id, name=value)
    return {}


@router.post("/runs/delete-tag", response_model=dict[str, Any])
def delete_tag(
    body: Body = Depends(mlflow_body), store: MetadataStore = Depends(get_metadata)
) -> dict[str, Any]:
    """``runs/delete-tag``."""
    key = text(body, "key")
    if key in HIDDEN_TAGS:
        raise MlflowError(f"Tag key {key!r} is reserved.")
    run_id = _run_id(body)
    get(store, run_id)
    try:
        store.delete_tag(run_id, key)
    except NotFound:
        raise NotFound(f"No tag with name: {key} in run with id {run_id}") from None
    return {}


@router.post("/runs/log-batch", response_model=dict[str, Any])
def log_batch(
    body: Body = Depends(mlflow_body), store: MetadataStore = Depends(get_metadata)
) -> dict[str, Any]:
    """``runs/log-batch`` with MLflow's limits: params immutable, tags overwrite, metrics append."""
    run_id = _run_id(body)
    metrics, params, tags = (body.get(k) or [] for k in ("metrics", "params", "tags"))
    for what, items, limit in (
        ("metrics", metrics, MAX_METRICS_PER_BATCH),
        ("params", params, MAX_PARAMS_TAGS_PER_BATCH),
        ("tags", tags, MAX_PARAMS_TAGS_PER_BATCH),
    ):
        if not isinstance(items, list):
            raise MlflowError(f"Invalid value for parameter '{what}': expected a list.")
        if len(items) > limit:
            raise MlflowError(
                f"A batch logging request can contain at most {limit} {what}. "
                f"Got {len(items)} {what}. Please split up {what} across multiple requests "
                "and try again."
            )
    total = len(metrics) + len(params) + len(tags)
    if total > MAX_ENTITIES_PER_BATCH:
        raise MlflowError(
            f"A batch logging request can contain at most {MAX_ENTITIES_PER_BATCH} "
            f"total metrics, params and tags. Got {total} entities."
        )
    param_map = _check_params(key_values(body, "params"))
    tag_pairs = key_values(body, "tags")
    _check_tags(tag_pairs)
    columns = _metric_columns(metrics)
    if param_map:
        _log_params(store, run_id, param_map)
    if tag_pairs:
        store.set_tags(run_id, dict(tag_pairs))
        name = dict(tag_pairs).get(RUN_NAME_TAG)
        if name:
            store.update_run(run_id, name=name)
    if columns:
        store.log_metric_columns(run_id, columns)
    elif not param_map and not tag_pairs:
        get(store, run_id)
    return {}


@router.post("/runs/log-inputs", response_model=dict[str, Any])
def log_inputs(
    body: Body = Depends(mlflow_body), store: MetadataStore = Depends(get_metadata)
) -> dict[str, Any]:
    """``runs/log-inputs``: datasets become lineage edges ``mlflow_dataset -input-> run``."""
    run_id = _run_id(body)
    get(store, run_id)
    items = body.get("datasets") or []
    if not isinstance(items, list):
        raise MlflowError("Invalid value for parameter 'datasets': expected a list.")
    for item in items:
        dataset = item.get("dataset") if isinstance(item, dict) else None
        if not isinstance(dataset, dict):
            raise MlflowError("Each dataset input needs a 'dataset' object.")
        name, digest = text(dataset, "name"), text(dataset, "digest")
        source_id = f"{name}@{digest}"
        if len(source_id) > 250:
            raise MlflowError("Dataset name and digest are limited to 250 characters together.")
        tags = [{"key": k, "value": v} for k, v in key_values(item, "tags")]
        store.add_lineage(
            LineageEdge(
                DATASET_SOURCE,
                source_id,
                "run",
                run_id,
                "input",
                properties={"dataset": dataset, "tags": tags},
            )
        )
    return {}
