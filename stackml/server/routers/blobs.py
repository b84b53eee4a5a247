"""``/api/v1/blobs``: content-addressed bytes, streamed both ways."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from stackml.errors import IntegrityError
from stackml.server.auth import admin, authenticated
from stackml.server.deps import get_blobs, get_metadata
from stackml.server.errors import error_response
from stackml.server.routers._common import API_PREFIX, BINARY_CONTENT, ERROR_RESPONSES
from stackml.server.schemas import BlobCheck, BlobList, BlobStored, Done
from stackml.server.streaming import BlobResponse, blob_headers, blob_response, store_request_body
from stackml.store.base import MetadataStore
from stackml.store.blobs.base import BlobStore, check_digest

router = APIRouter(prefix=API_PREFIX, tags=["blobs"], responses=ERROR_RESPONSES)


@router.put(
    "/blobs",
    response_model=BlobStored,
    dependencies=[Depends(authenticated)],
    openapi_extra={"requestBody": {"required": True, "content": BINARY_CONTENT}},
)
async def put_blob(
    request: Request,
    expected_hash: str | None = Query(
        default=None, description="refuse the upload (400) unless the content has this hash"
    ),
    blobs: BlobStore = Depends(get_blobs),
) -> BlobStored | JSONResponse:
    """Store the streamed request body; answer its hash. No size limit applies."""
    if expected_hash is not None:
        check_digest(expected_hash)
    try:
        digest, size = await store_request_body(request, blobs, expected_hash=expected_hash)
    except IntegrityError as exc:
        # The client sent bytes that do not match what it promised: its fault, hence 400.
        return error_response(400, "IntegrityError", str(exc))
    return BlobStored(hash=digest, size=size)


@router.get(
    "/blobs/{digest}",
    response_model=None,
    response_class=BlobResponse,
    dependencies=[Depends(authenticated)],
    responses={200: {"content": BINARY_CONTENT, "description": "The blob's bytes"}},
)
def get_blob(digest: str, blobs: BlobStore = Depends(get_blobs)) -> Response:
    """Stream a blob; ``X-Content-Hash`` lets the client verify what it received."""
    size = blobs.size(check_digest(digest))
    return blob_response(blobs, digest, size)


@router.head(
    "/blobs/{digest}",
    response_model=None,
    response_class=Response,
    dependencies=[Depends(authenticated)],
    responses={200: {"description": "The blob exists; Content-Length is its size"}},
)
def head_blob(digest: str, blobs: BlobStore = Depends(get_blobs)) -> Response:
    """Whether a blob exists, and its size."""
    size = blobs.size(check_digest(digest))
    return Response(headers=blob_headers(digest, size), media_type="application/octet-stream")


@router.delete("/blobs/{digest}", response_model=Done, dependencies=[Depends(admin)])
def delete_blob(digest: str, blobs: BlobStore = Depends(get_blobs)) -> Done:
    """Remove a blob if present (garbage collection)."""
    blobs.delete(check_digest(digest))
    return Done()


@router.get("/blobs", response_model=BlobList, dependencies=[Depends(admin)])
async def list_blobs(blobs: BlobStore = Depends(get_blobs)) -> BlobList:
    """Every stored blob's hash (garbage collection and fsck)."""
    return BlobList(hashes=await run_in_threadpool(lambda: list(blobs.iter_digests())))


@router.post("/blobs/{digest}/verify", response_model=BlobCheck, dependencies=[Depends(admin)])
def verify_blob(digest: str, blobs: BlobStore = Depends(get_blobs)) -> BlobCheck:
    """Re-hash a stored blob."""
    return BlobCheck(hash=digest, ok=blobs.verify(check_digest(digest)))


@router.post("/blobs/{digest}/quarantine", response_model=Done, dependencies=[Depends(admin)])
def quarantine_blob(digest: str, blobs: BlobStore = Depends(get_blobs)) -> Done:
    """Move a corrupt blob aside so that it is no longer served."""
    blobs.quarantine(check_digest(digest))
    return Done()


@router.get("/referenced-blobs", response_model=BlobList, dependencies=[Depends(admin)])
def referenced_blobs(store: MetadataStore = Depends(get_metadata)) -> BlobList:
    """Every blob hash some metadata row refers to."""
    return BlobList(hashes=list(store.referenced_blobs()))
