"""``/api/v1/runs/{run_id}/artifacts``: artifact records and streamed artifact files.

The logical path is validated (allow-list, see :mod:`stackml._internal.names`) before anything
is read or written, so no spelling of ``..``, absolute paths, encoded separators, NUL, ``;`` or
``#`` can reach the store. Bytes live in the blob store under their hash; the path is only a
row.
"""

from __future__ import annotations

import mimetypes

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from stackml._internal.names import validate_relative_path
from stackml._internal.timeutil import now_ms
from stackml.errors import InvalidInput
from stackml.server.auth import authenticated
from stackml.server.deps import get_blobs, get_metadata
from stackml.server.routers._common import API_PREFIX, BINARY_CONTENT, ERROR_RESPONSES
from stackml.server.schemas import ArtifactIn, ArtifactOut
from stackml.server.streaming import BlobResponse, blob_response, store_request_body
from stackml.store.base import MetadataStore
from stackml.store.blobs.base import BlobStore, check_digest
from stackml.store.entities import Artifact
from stackml.ui.artifacts import content_disposition

router = APIRouter(
    prefix=f"{API_PREFIX}/runs/{{run_id}}",
    tags=["artifacts"],
    dependencies=[Depends(authenticated)],
    responses=ERROR_RESPONSES,
)

_OCTET = "application/octet-stream"


def _media_type(path: str, declared: str | None) -> str:
    if declared and declared.split(";")[0].strip() not in {"", _OCTET}:
        return declared.split(";")[0].strip()
    return mimetypes.guess_type(path)[0] or _OCTET


@router.get("/artifacts", response_model=list[ArtifactOut])
def list_artifacts(
    run_id: str, prefix: str | None = None, store: MetadataStore = Depends(get_metadata)
) -> list[ArtifactOut]:
    """Artifacts of a run, optionally under a logical path prefix, ordered by path."""
    return [ArtifactOut.of(a) for a in store.list_artifacts(run_id, prefix)]


@router.post("/artifacts", response_model=ArtifactOut, status_code=201)
def log_artifact(
    run_id: str, body: ArtifactIn, store: MetadataStore = Depends(get_metadata)
) -> ArtifactOut:
    """Record that a logical path of the run points at an already stored blob."""
    artifact = Artifact(
        run_id=run_id,
        path=body.path,
        blob_hash=check_digest(body.blob_hash),
        size=body.size,
        media_type=body.media_type,
        created_at=body.created_at,
    )
    return ArtifactOut.of(store.log_artifact(artifact))


@router.get("/artifact", response_model=ArtifactOut)
def get_artifact(
    run_id: str, path: str, store: MetadataStore = Depends(get_metadata)
) -> ArtifactOut:
    """One artifact record, by logical path (a query parameter)."""
    return ArtifactOut.of(store.get_artifact(run_id, _checked(path)))


class DeletedOut(BaseModel):
    """How many artifact records a delete removed."""

    deleted: int


@router.delete("/artifact", response_model=DeletedOut)
def delete_artifacts(
    run_id: str, path: str, store: MetadataStore = Depends(get_metadata)
) -> DeletedOut:
    """Remove the record at ``path`` and every record under that folder (blobs stay for gc)."""
    return DeletedOut(deleted=store.delete_artifacts(run_id, _checked(path)))


@router.put(
    "/artifacts/{path:path}",
    response_model=ArtifactOut,
    status_code=201,
    openapi_extra={"requestBody": {"required": True, "content": BINARY_CONTENT}},
)
async def upload_artifact(
    run_id: str,
    path: str,
    request: Request,
    store: MetadataStore = Depends(get_metadata),
    blobs: BlobStore = Depends(get_blobs),
) -> ArtifactOut:
    """Stream a file into the blob store and record it at ``path`` (no size limit)."""
    _checked(path)
    await run_in_threadpool(store.get_run, run_id)  # 404 before a single byte is stored
    digest, size = await store_request_body(request, blobs)
    artifact = Artifact(
        run_id=run_id,
        path=path,
        blob_hash=digest,
        size=size,
        media_type=_media_type(path, request.headers.get("content-type")),
        created_at=now_ms(),
    )
    return ArtifactOut.of(await run_in_threadpool(store.log_artifact, artifact))


@router.get(
    "/artifacts/{path:path}",
    response_model=None,
    response_class=BlobResponse,
    responses={200: {"content": BINARY_CONTENT, "description": "The artifact's bytes"}},
)
def download_artifact(
    run_id: str,
    path: str,
    store: MetadataStore = Depends(get_metadata),
    blobs: BlobStore = Depends(get_blobs),
) -> Response:
    """Stream an artifact's bytes; ``X-Content-Hash`` carries the hash to verify."""
    artifact = store.get_artifact(run_id, _checked(path))
    response = blob_response(blobs, artifact.blob_hash, artifact.size, artifact.media_type)
    # A browser opening this URL downloads anything but a raster image instead of rendering it.
    response.headers["Content-Disposition"] = content_disposition(
        artifact.path, artifact.media_type
    )
    return response


def _checked(path: str) -> str:
    try:
        return validate_relative_path(path)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
