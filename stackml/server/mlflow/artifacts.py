"""Artifacts: ``artifacts/list`` and the proxied artifact API (``mlflow-artifacts``).

Runs created through MLflow get the artifact URI ``mlflow-artifacts:/<experiment>/<run>/artifacts``,
so the client sends files to ``/api/2.0/mlflow-artifacts/artifacts/<experiment>/<run>/artifacts/
<path>`` (PUT), reads them back (GET), lists them (GET ``?path=``) and deletes them (DELETE).
Each file becomes an ordinary stackml run artifact: bytes in the blob store under their hash,
the path a row. Paths are validated with the same allow-list as stackml's own artifact API
before anything is read or written (no ``..``, absolute or encoded forms), and the proxy never
maps a path onto the file system: a path only ever names a row of a run.
"""

from __future__ import annotations

import mimetypes
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from stackml._internal.names import validate_relative_path
from stackml._internal.timeutil import now_ms
from stackml.errors import NotFound
from stackml.server.deps import get_blobs, get_metadata
from stackml.server.mlflow.common import Body, mlflow_body, mlflow_router, text
from stackml.server.mlflow.errors import MlflowError
from stackml.server.mlflow.runs import artifact_uri, get
from stackml.server.streaming import blob_response, store_request_body
from stackml.store.base import MetadataStore
from stackml.store.blobs.base import BlobStore
from stackml.store.entities import Artifact, Run

router = mlflow_router()
proxy = mlflow_router()


def _checked(path: str) -> str:
    try:
        return validate_relative_path(path)
    except ValueError as exc:
        raise MlflowError(f"Invalid path {path!r}: {exc}") from exc


def children(store: MetadataStore, run_id: str, folder: str) -> list[dict[str, Any]]:
    """The files and folders directly under ``folder`` of a run (``""`` for its root)."""
    entries: dict[str, dict[str, Any]] = {}
    for artifact in store.list_artifacts(run_id, folder or None):
        if folder and artifact.path == folder:
            continue  # listing a file lists nothing, as MLflow's stores do
        rest = artifact.path[len(folder) + 1 :] if folder else artifact.path
        name, _, below = rest.partition("/")
        path = f"{folder}/{name}" if folder else name
        if below:
            entries.setdefault(path, {"path": path, "is_dir": True})
        else:
            entries[path] = {"path": path, "is_dir": False, "file_size": artifact.size}
    return [entries[key] for key in sorted(entries)]


@router.get("/artifacts/list", response_model=dict[str, Any])
def list_artifacts(
    body: Body = Depends(mlflow_body), store: MetadataStore = Depends(get_metadata)
) -> dict[str, Any]:
    """``artifacts/list``: direct children of ``path`` in a run's artifacts."""
    run_id = text(body, "run_id", required=False) or text(body, "run_uuid")
    run = get(store, run_id)
    raw = (text(body, "path", required=False) or "").rstrip("/")
    folder = _checked(raw) if raw else ""
    return {"root_uri": artifact_uri(run), "files": children(store, run.id, folder)}


# -- the proxy --------------------------------------------------------------------------
def _locate(store: MetadataStore, path: str) -> tuple[Run, str]:
    """The run and the path inside it that ``<experiment>/<run>/artifacts/<path>`` names."""
    parts = _checked(path).split("/")
    if len(parts) < 3 or parts[2] != "artifacts":
        raise NotFound(f"No artifact root at {path!r}: expected <experiment>/<run>/artifacts/...")
    run = get(store, parts[1])
    if run.experiment_id != parts[0]:
        raise NotFound(f"Run '{parts[1]}' is not in experiment '{parts[0]}'")
    return run, "/".join(parts[3:])


@proxy.get("/artifacts", response_model=dict[str, Any])
def proxy_list(
    body: Body = Depends(mlflow_body), store: MetadataStore = Depends(get_metadata)
) -> dict[str, Any]:
    """List a folder of the proxied artifact root (entries by base name, as MLflow does)."""
    path = (text(body, "path", required=False) or "").rstrip("/")
    if path:
        _checked(path)
    if len(path.split("/")) < 3:
        return {}
    run, folder = _locate(store, path)
    files = []
    for entry in children(store, run.id, folder):
        entry = dict(entry, path=entry["path"].rsplit("/", 1)[-1])
        files.append(entry)
    return {"files": files} if files else {}


@proxy.put("/artifacts/{path:path}", response_model=dict[str, Any])
async def proxy_upload(
    path: str,
    request: Request,
    store: MetadataStore = Depends(get_metadata),
    blobs: BlobStore = Depends(get_blobs),
) -> dict[str, Any]:
    """Stream a file into the blob store and record it as an artifact of the run."""
    run, inner = await run_in_threadpool(_locate, store, path)
    if not inner:
        raise MlflowError("An artifact path needs a file name after 'artifacts/'.")
    digest, size = await store_request_body(request, blobs)
    media_type = mimetypes.guess_type(inner)[0] or "application/octet-stream"
    artifact = Artifact(run.id, inner, digest, size, media_type, now_ms())
    await run_in_threadpool(store.log_artifact, artifact)
    return {}


@proxy.get("/artifacts/{path:path}", response_model=None)
def proxy_download(
    path: str,
    store: MetadataStore = Depends(get_metadata),
    blobs: BlobStore = Depends(get_blobs),
) -> Response:
    """Stream an artifact's bytes."""
    run, inner = _locate(store, path)
    if not inner:
        raise NotFound("An artifact path needs a file name after 'artifacts/'.")
    artifact = store.get_artifact(run.id, inner)
    return blob_response(blobs, artifact.blob_hash, artifact.size, "application/octet-stream")


@proxy.delete("/artifacts/{path:path}", response_model=dict[str, Any])
def proxy_delete(path: str, store: MetadataStore = Depends(get_metadata)) -> dict[str, Any]:
    """Delete a file or a folder of a run's artifacts (the blobs stay until ``stackml gc``)."""
    run, inner = _locate(store, path)
    if inner:
        store.delete_artifacts(run.id, inner)
    else:
        for entry in children(store, run.id, ""):
            store.delete_artifacts(run.id, entry["path"])
    return {}
