"""MLflow's model registry basics mapped onto the stackml registry.

``registered-models`` (create, get, search, delete, alias) and ``model-versions`` (create,
get, search, get-download-uri) are served over :class:`~stackml.store.registry_base.RegistryStore`.
A version's ``source`` must name files of its run: ``runs:/<run>/<path>`` or the run's
``mlflow-artifacts:/<experiment>/<run>/artifacts/<path>`` (what ``mlflow.register_model``
sends); any other URI, a local path or a ``file:`` URI included, is refused before anything is
read. The version records those artifacts (format ``mlflow``); its download URI is the run's
artifact proxy, so the client downloads through the server.

stackml keeps every version as an immutable audit record, so ``registered-models/delete``
hides the model from MLflow clients (the tag ``stackml.lifecycle``); creating the name again
brings it back with its old versions.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request

from stackml.errors import NotFound
from stackml.registry.refs import parse_source
from stackml.server.auth import current_user
from stackml.server.deps import get_metadata, get_store
from stackml.server.mlflow.common import (
    DELETED,
    LIFECYCLE_TAG,
    Body,
    decode_offset,
    encode_offset,
    integer,
    key_values,
    mlflow_body,
    mlflow_router,
    text,
)
from stackml.server.mlflow.errors import MlflowError
from stackml.server.mlflow.filters import ExperimentFilter
from stackml.store.base import MetadataStore
from stackml.store.registry_base import ModelFile, ModelVersion, ModelVersionDraft, RegisteredModel

router = mlflow_router()

FORMAT = "mlflow"
SOURCE_KEY = "mlflow_source"
_PROXY = "mlflow-artifacts:/"
#: MLflow models carry their own signature in MLmodel; the registry keeps a stand-in.
_SIGNATURE = {
    "inputs": [{"name": "input", "dtype": "float32", "shape": [-1]}],
    "outputs": [],
    "task": "other",
    "extra": {"registered_through": "mlflow", "signature": "see the MLmodel file"},
}


def _author(request: Request) -> str:
    user = current_user(request)
    return user.name if user is not None else "unknown"


def _model(store: MetadataStore, name: str) -> RegisteredModel:
    try:
        model = store.get_registered_model(name)
    except NotFound:
        model = None
    if model is None or model.tags.get(LIFECYCLE_TAG) == DELETED:
        raise NotFound(f"Registered Model with name={name} not found")
    return model


def version_json(version: ModelVersion) -> dict[str, Any]:
    """An MLflow ``ModelVersion`` message."""
    return {
        "name": version.model,
        "version": str(version.version),
        "creation_timestamp": version.created_at,
        "last_updated_timestamp": version.created_at,
        "user_id": version.author,
        "current_stage": "None",
        "description": version.description,
        "source": version.meta.get(SOURCE_KEY) or f"runs:/{version.run_id}/{version.artifact_path}",
        "run_id": version.run_id,
        "status": "READY",
        "tags": [{"key": k, "value": v} for k, v in version.tags.items()],
        "aliases": list(version.aliases),
    }


def model_json(store: MetadataStore, model: RegisteredModel) -> dict[str, Any]:
    """An MLflow ``RegisteredModel`` message (with its latest version)."""
    answer: dict[str, Any] = {
        "name": model.name,
        "creation_timestamp": model.created_at,
        "last_updated_timestamp": model.updated_at,
        "description": model.description,
        "tags": [{"key": k, "value": v} for k, v in model.tags.items() if k != LIFECYCLE_TAG],
        "aliases": [{"alias": a, "version": str(v)} for a, v in sorted(model.aliases.items())],
    }
    if model.latest_version is not None:
        latest = store.get_model_version(model.name, model.latest_version)
        answer["latest_versions"] = [version_json(latest)]
    return answer


def _version_number(body: Body) -> int:
    number = integer(body, "version")
    if number is None or number < 1:
        raise MlflowError("Parameter 'version' must be a version number (1, 2, ...).")
    return int(number)


def _source(store: MetadataStore, source: str, run_id: str | None) -> tuple[str, str]:
    """``(run_id, artifact_path)`` named by a version source; refuses anything else."""
    if source.startswith(_PROXY):
        parts = source[len(_PROXY) :].split("/", 3)
        if len(parts) < 4 or parts[2] != "artifacts":
            raise MlflowError(f"Invalid model version source {source!r}.")
        run = store.get_run(parts[1])
        if run.experiment_id != parts[0]:
            raise MlflowError(f"Invalid model version source {source!r}: no such run artifact.")
        source = f"runs:/{parts[1]}/{parts[3]}"
    if not source.startswith("runs:/"):
        raise MlflowError(
            f"Invalid model version source {source!r}: use runs:/<run_id>/<path> or the run's "
            "mlflow-artifacts:/ URI (files must be artifacts of a run on this server)."
        )
    parsed = parse_source(source, run_id=run_id or None)
    return parsed.run_id, parsed.artifact_path


# -- registered models ------------------------------------------------------------------
@router.post("/registered-models/create", response_model=dict[str, Any])
def create_registered_model(
    body: Body = Depends(mlflow_body), store: MetadataStore = Depends(get_metadata)
) -> dict[str, Any]:
    """``registered-models/create``."""
    name = text(body, "name")
    tags = dict(key_values(body, "tags"))
    description = text(body, "description", required=False) or ""
    try:
        existing = store.get_registered_model(name)
    except NotFound:
        existing = None
    if existing is not None and existing.tags.get(LIFECYCLE_TAG) == DELETED:
        kept = {k: v for k, v in existing.tags.items() if k != LIFECYCLE_TAG}
        model = store.update_registered_model(name, description=description, tags={**kept, **tags})
    elif existing is not None:
        raise MlflowError(
            f"Registered Model (name={name}) already exists.", "RESOURCE_ALREADY_EXISTS", 400
        )
    else:
        model = store.create_registered_model(name, description=description, tags=tags)
    return {"registered_model": model_json(store, model)}


@router.get("/registered-models/get", response_model=dict[str, Any])
def get_registered_model(
    body: Body = Depends(mlflow_body), store: MetadataStore = Depends(get_metadata)
) -> dict[str, Any]:
    """``registered-models/get``."""
    return {"registered_model": model_json(store, _model(store, text(body, "name")))}


@router.api_route(
    "/registered-models/search", methods=["GET", "POST"], response_model=dict[str, Any]
)
def search_registered_models(
    body: Body = Depends(mlflow_body), store: MetadataStore = Depends(get_metadata)
) -> dict[str, Any]:
    """``registered-models/search``: ``name``/``tags`` filters, order by name, pages."""
    max_results = integer(body, "max_results", 100)
    if not 1 <= max_results <= 1000:
        raise MlflowError("max_results must be between 1 and 1000.")
    matches = ExperimentFilter(text(body, "filter", required=False) or "")
    rows = [
        model_json(store, m)
        for m in store.list_registered_models()
        if m.tags.get(LIFECYCLE_TAG) != DELETED
    ]
    rows = [r for r in rows if matches(r)]
    order = body.get("order_by") or []
    descending = any(str(o).split()[-1].upper() == "DESC" for o in order if str(o).strip())
    rows.sort(key=lambda r: r["name"], reverse=descending)
    scope = f"models:{body.get('filter')}:{order}"
    offset = decode_offset(text(body, "page_token", required=False), scope)
    answer: dict[str, Any] = {"registered_models": rows[offset : offset + max_results]}
    if offset + max_results < len(rows):
        answer["next_page_token"] = encode_offset(offset + max_results, scope)
    return answer


@router.delete("/registered-models/delete", response_model=dict[str, Any])
def delete_registered_model(
    body: Body = Depends(mlflow_body), store: MetadataStore = Depends(get_metadata)
) -> dict[str, Any]:
    """``registered-models/delete``: hides the model from MLflow clients (versions are kept)."""
    model = _model(store, text(body, "name"))
    store.update_registered_model(model.name, tags={**model.tags, LIFECYCLE_TAG: DELETED})
    return {}


@router.post("/registered-models/alias", response_model=dict[str, Any])
def set_alias(
    request: Request,
    body: Body = Depends(mlflow_body),
    store: MetadataStore = Depends(get_metadata),
) -> dict[str, Any]:
    """``registered-models/alias`` (POST): point an alias at a version.

    An alias the model guards with gates (``production`` usually) moves only through them, as
    with ``stackml models promote``: a failing gate answers ``INVALID_PARAMETER_VALUE`` with
    each gate's reasons, and nothing moves.
    """
    model = _model(store, text(body, "name"))
    version = _version_number(body)
    alias = text(body, "alias")
    store.get_model_version(model.name, version)
    if model.gates.get(alias):
        from stackml.registry.promotion import promote

        promote(
            f"{model.name}@{version}",
            alias=alias,
            reason="set through the MLflow API",
            author=_author(request),
            store=get_store(request),
        )
        return {}
    store.set_model_alias(model.name, alias, version, action="set", author=_author(request))
    return {}


@router.delete("/registered-models/alias", response_model=dict[str, Any])
def delete_alias(
    request: Request,
    body: Body = Depends(mlflow_body),
    store: MetadataStore = Depends(get_metadata),
) -> dict[str, Any]:
    """``registered-models/alias`` (DELETE): remove an alias."""
    model = _model(store, text(body, "name"))
    alias = text(body, "alias")
    store.get_model_alias(model.name, alias)
    store.set_model_alias(model.name, alias, None, action="remove", author=_author(request))
    return {}


@router.get("/registered-models/alias", response_model=dict[str, Any])
def get_by_alias(
    body: Body = Depends(mlflow_body), store: MetadataStore = Depends(get_metadata)
) -> dict[str, Any]:
    """``registered-models/alias`` (GET): the version an alias points at."""
    model = _model(store, text(body, "name"))
    version = store.get_model_alias(model.name, text(body, "alias"))
    return {"model_version": version_json(store.get_model_version(model.name, version))}


# -- model versions ---------------------------------------------------------------------
@router.post("/model-versions/create", response_model=dict[str, Any])
def create_model_version(
    request: Request,
    body: Body = Depends(mlflow_body),
    store: MetadataStore = Depends(get_metadata),
) -> dict[str, Any]:
    """``model-versions/create``: a version over the run artifacts its source names."""
    model = _model(store, text(body, "name"))
    source = text(body, "source")
    run_id, path = _source(store, source, text(body, "run_id", required=False))
    artifacts = store.list_artifacts(run_id, path)
    if not artifacts:
        raise MlflowError(f"Invalid model version source {source!r}: the run has no files there.")
    # The run's latest metrics become the version's snapshot, which metric gates read.
    snapshot = {
        key: summary.latest
        for key, summary in store.get_run(run_id).metrics.items()
        if summary.latest is not None
    }
    version = store.create_model_version(
        ModelVersionDraft(
            model=model.name,
            run_id=run_id,
            artifact_path=path,
            format=FORMAT,
            files=[ModelFile(a.path, a.blob_hash, a.size) for a in artifacts],
            signature=_SIGNATURE,
            metrics=snapshot,
            meta={SOURCE_KEY: source},
            description=text(body, "description", required=False) or "",
            tags=dict(key_values(body, "tags")),
            author=_author(request),
        )
    )
    return {"model_version": version_json(version)}


@router.get("/model-versions/get", response_model=dict[str, Any])
def get_model_version(
    body: Body = Depends(mlflow_body), store: MetadataStore = Depends(get_metadata)
) -> dict[str, Any]:
    """``model-versions/get``."""
    model = _model(store, text(body, "name"))
    return {
        "model_version": version_json(store.get_model_version(model.name, _version_number(body)))
    }


@router.get("/model-versions/get-download-uri", response_model=dict[str, Any])
def get_download_uri(
    body: Body = Depends(mlflow_body), store: MetadataStore = Depends(get_metadata)
) -> dict[str, Any]:
    """``model-versions/get-download-uri``: the files through the server's artifact proxy."""
    model = _model(store, text(body, "name"))
    version = store.get_model_version(model.name, _version_number(body))
    run = store.get_run(version.run_id)
    uri = f"{_PROXY}{run.experiment_id}/{run.id}/artifacts/{version.artifact_path}"
    return {"artifact_uri": uri}


@router.api_route("/model-versions/search", methods=["GET", "POST"], response_model=dict[str, Any])
def search_model_versions(
    body: Body = Depends(mlflow_body), store: MetadataStore = Depends(get_metadata)
) -> dict[str, Any]:
    """``model-versions/search``: filters on ``name``, ``run_id``, ``version`` and ``tags``."""
    max_results = integer(body, "max_results", 10_000)
    if not 1 <= max_results <= 200_000:
        raise MlflowError("max_results must be between 1 and 200000.")
    matches = ExperimentFilter(text(body, "filter", required=False) or "", versions=True)
    rows = []
    for model in store.list_registered_models():
        if model.tags.get(LIFECYCLE_TAG) == DELETED:
            continue
        rows += [version_json(v) for v in store.list_model_versions(model.name)]
    rows = [r for r in rows if matches(r)]
    scope = f"versions:{body.get('filter')}"
    offset = decode_offset(text(body, "page_token", required=False), scope)
    answer: dict[str, Any] = {"model_versions": rows[offset : offset + max_results]}
    if offset + max_results < len(rows):
        answer["next_page_token"] = encode_offset(offset + max_results, scope)
    return answer
