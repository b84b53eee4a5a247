"""MLflow experiments mapped onto stackml experiments (see
:mod:`stackml.tracking.importers.mlflow_mapping` for how names and lifecycles map)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Depends

from stackml.errors import NotFound
from stackml.server.deps import get_metadata
from stackml.server.mlflow.common import (
    Body,
    decode_offset,
    encode_offset,
    integer,
    key_values,
    mlflow_body,
    mlflow_router,
    strings,
    text,
)
from stackml.server.mlflow.errors import RESOURCE_ALREADY_EXISTS, MlflowError
from stackml.server.mlflow.filters import ExperimentFilter
from stackml.store.base import DEFAULT_EXPERIMENT, MetadataStore
from stackml.store.entities import Experiment
from stackml.tracking.importers.mlflow_mapping import (
    DEFAULT_PROJECT,
    DELETED,
    HIDDEN_TAGS,
    LIFECYCLE_TAG,
    MAX_NAME,
    NAME_TAG,
    mlflow_name,
)
from stackml.tracking.importers.mlflow_mapping import (
    create_experiment as create,
)
from stackml.tracking.importers.mlflow_mapping import (
    find_experiment as find_by_name,
)
from stackml.tracking.importers.mlflow_mapping import is_deleted as _deleted_tags
from stackml.tracking.importers.mlflow_mapping import (
    resolve_experiment as resolve,
)

router = mlflow_router()


def is_deleted(experiment: Experiment) -> bool:
    """Whether an experiment is marked deleted."""
    return _deleted_tags(experiment.tags)


def artifact_root(experiment_id: str) -> str:
    """The artifact location of an experiment: under the server's artifact proxy."""
    return f"mlflow-artifacts:/{experiment_id}"


def to_json(experiment: Experiment) -> dict[str, Any]:
    """An MLflow ``Experiment`` message."""
    tags = [{"key": k, "value": v} for k, v in experiment.tags.items() if k not in HIDDEN_TAGS]
    return {
        "experiment_id": experiment.id,
        "name": mlflow_name(experiment),
        "artifact_location": artifact_root(experiment.id),
        "lifecycle_stage": DELETED if is_deleted(experiment) else "active",
        "creation_time": experiment.created_at,
        "last_update_time": experiment.created_at,
        "tags": tags,
    }


def _check_tag_key(key: str) -> None:
    if key in HIDDEN_TAGS:
        raise MlflowError(f"Tag key {key!r} is reserved.")


# -- routes -----------------------------------------------------------------------------
@router.post("/experiments/create", response_model=dict[str, Any])
def create_experiment(
    body: Body = Depends(mlflow_body), store: MetadataStore = Depends(get_metadata)
) -> dict[str, Any]:
    """``experiments/create``; ``artifact_location`` is chosen by the server, never a path."""
    name = text(body, "name")
    if body.get("artifact_location"):
        raise MlflowError(
            "artifact_location cannot be set on this server: artifacts are stored by the server "
            "and served through its artifact proxy (mlflow-artifacts:)."
        )
    tags = dict(key_values(body, "tags"))
    for key in tags:
        _check_tag_key(key)
    return {"experiment_id": create(store, name, tags).id}


@router.get("/experiments/get", response_model=dict[str, Any])
def get_experiment(
    body: Body = Depends(mlflow_body), store: MetadataStore = Depends(get_metadata)
) -> dict[str, Any]:
    """``experiments/get``."""
    return {"experiment": to_json(resolve(store, text(body, "experiment_id")))}


@router.get("/experiments/get-by-name", response_model=dict[str, Any])
def get_experiment_by_name(
    body: Body = Depends(mlflow_body), store: MetadataStore = Depends(get_metadata)
) -> dict[str, Any]:
    """``experiments/get-by-name``."""
    name = text(body, "experiment_name")
    experiment = find_by_name(store, name)
    if experiment is None:
        raise NotFound(f"Could not find experiment with name '{name}'")
    return {"experiment": to_json(experiment)}


def _view_type(body: Body) -> Callable[[Experiment], bool]:
    view = str(body.get("view_type") or "ACTIVE_ONLY").upper()
    if view == "ACTIVE_ONLY":
        return lambda e: not is_deleted(e)
    if view == "DELETED_ONLY":
        return is_deleted
    if view == "ALL":
        return lambda e: True
    raise MlflowError(f"Invalid view_type {view!r}: use ACTIVE_ONLY, DELETED_ONLY or ALL.")


@router.api_route("/experiments/search", methods=["GET", "POST"], response_model=dict[str, Any])
def search_experiments(
    body: Body = Depends(mlflow_body), store: MetadataStore = Depends(get_metadata)
) -> dict[str, Any]:
    """``experiments/search``: filter on name, tags and times, order, pages."""
    max_results = integer(body, "max_results", 1000)
    if not 1 <= max_results <= 50_000:
        raise MlflowError("max_results must be between 1 and 50000.")
    matches = ExperimentFilter(text(body, "filter", required=False) or "")
    order_by = strings(body, "order_by")
    visible = _view_type(body)
    rows = [to_json(e) for e in store.list_experiments() if visible(e)]
    rows = [row for row in rows if matches(row)]
    rows = ExperimentFilter.sort(rows, order_by)
    scope = f"experiments:{body.get('filter')}:{order_by}:{body.get('view_type')}"
    offset = decode_offset(text(body, "page_token", required=False), scope)
    page = rows[offset : offset + max_results]
    answer: dict[str, Any] = {"experiments": page}
    if offset + max_results < len(rows):
        answer["next_page_token"] = encode_offset(offset + max_results, scope)
    return answer


@router.post("/experiments/update", response_model=dict[str, Any])
def update_experiment(
    body: Body = Depends(mlflow_body), store: MetadataStore = Depends(get_metadata)
) -> dict[str, Any]:
    """``experiments/update``: rename (the name MLflow clients see)."""
    experiment = resolve(store, text(body, "experiment_id"))
    new_name = text(body, "new_name", required=False)
    if new_name:
        if len(new_name) > MAX_NAME:
            raise MlflowError(f"Experiment name exceeds the maximum length of {MAX_NAME}.")
        other = find_by_name(store, new_name)
        if other is not None and other.id != experiment.id:
            raise MlflowError(
                f"Experiment(name={new_name}) already exists.", RESOURCE_ALREADY_EXISTS, 400
            )
        store.set_experiment_tags(experiment.id, {NAME_TAG: new_name})
    return {}


@router.post("/experiments/delete", response_model=dict[str, Any])
def delete_experiment(
    body: Body = Depends(mlflow_body), store: MetadataStore = Depends(get_metadata)
) -> dict[str, Any]:
    """``experiments/delete``: marks it deleted; its runs stay and it can be restored."""
    experiment = resolve(store, text(body, "experiment_id"))
    if experiment.project == DEFAULT_PROJECT and experiment.name == DEFAULT_EXPERIMENT:
        raise MlflowError("Cannot delete the default experiment '0'.")
    store.set_experiment_tags(experiment.id, {LIFECYCLE_TAG: DELETED})
    return {}


@router.post("/experiments/restore", response_model=dict[str, Any])
def restore_experiment(
    body: Body = Depends(mlflow_body), store: MetadataStore = Depends(get_metadata)
) -> dict[str, Any]:
    """``experiments/restore``."""
    experiment = resolve(store, text(body, "experiment_id"))
    if not is_deleted(experiment):
        raise MlflowError(f"Cannot restore an active experiment {experiment.id}.")
    store.delete_experiment_tag(experiment.id, LIFECYCLE_TAG)
    return {}


@router.post("/experiments/set-experiment-tag", response_model=dict[str, Any])
def set_experiment_tag(
    body: Body = Depends(mlflow_body), store: MetadataStore = Depends(get_metadata)
) -> dict[str, Any]:
    """``experiments/set-experiment-tag``."""
    experiment = resolve(store, text(body, "experiment_id"))
    key = text(body, "key")
    _check_tag_key(key)
    value = body.get("value") or ""
    if not isinstance(value, str):
        raise MlflowError("Invalid value for parameter 'value': expected a string.")
    store.set_experiment_tags(experiment.id, {key: value})
    return {}


@router.post("/experiments/delete-experiment-tag", response_model=dict[str, Any])
def delete_experiment_tag(
    body: Body = Depends(mlflow_body), store: MetadataStore = Depends(get_metadata)
) -> dict[str, Any]:
    """``experiments/delete-experiment-tag``."""
    experiment = resolve(store, text(body, "experiment_id"))
    key = text(body, "key")
    _check_tag_key(key)
    store.delete_experiment_tag(experiment.id, key)
    return {}
