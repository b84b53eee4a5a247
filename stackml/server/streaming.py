"""Streaming request bodies into the blob store and blobs out to the client.

Uploads are spooled (memory up to a few MiB, then a temporary file) chunk by chunk as they
arrive, then handed to :meth:`BlobStore.put_stream` in a worker thread, so the event loop never
blocks on disk and no whole file is ever held in memory. Downloads read the blob store in
chunks from a worker thread through :class:`~starlette.responses.StreamingResponse`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import BinaryIO

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse

from stackml.store.blobs.base import BlobStore

CHUNK = 1 << 20
_SPOOL_MEMORY = 8 << 20


async def store_request_body(
    request: Request, blobs: BlobStore, *, expected_hash: str | None = None
) -> tuple[str, int]:
    """Stream the request body into ``blobs``; return ``(hash, size)``."""
    size = 0
    pending = bytearray()
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_MEMORY) as spool:
        async for chunk in request.stream():
            size += len(chunk)
            pending += chunk
            if len(pending) >= CHUNK:
                # Writes may hit the disk once the spool rolls over: do them off the loop.
                await run_in_threadpool(spool.write, bytes(pending))
                pending.clear()
        if pending:
            await run_in_threadpool(spool.write, bytes(pending))
        spool.seek(0)
        digest = await run_in_threadpool(
            blobs.put_stream,
            spool,  # type: ignore[arg-type]
            expected_hash=expected_hash,
        )
    return digest, size


class BlobResponse(StreamingResponse):
    """Streamed bytes; declared as the response class so the OpenAPI spec says binary."""

    media_type = "application/octet-stream"


def _chunks(fh: BinaryIO, first: bytes) -> Iterator[bytes]:
    with fh:
        chunk = first
        while chunk:
            yield chunk
            chunk = fh.read(CHUNK)


def blob_response(
    blobs: BlobStore, digest: str, size: int, media_type: str = "application/octet-stream"
) -> BlobResponse:
    """A streamed, verified blob.

    The first chunk is read before answering: a blob that fits in it is fully verified while
    an error answer is still possible. A larger corrupt blob is caught at its end, where the
    only signal left is closing the connection early (and the client verifies the hash too).
    """
    fh = blobs.open(digest)
    try:
        first = fh.read(CHUNK)
    except BaseException:
        fh.close()
        raise
    return BlobResponse(
        _chunks(fh, first), media_type=media_type, headers=blob_headers(digest, size)
    )


def blob_headers(digest: str, size: int) -> dict[str, str]:
    """Headers describing a blob: length, hash (for client-side verification) and ETag."""
    return {
        "Content-Length": str(size),
        "X-Content-Hash": digest,
        "ETag": f'"{digest}"',
        "X-Content-Type-Options": "nosniff",
        # Stored files are user content: never let a browser run them in the API's origin.
        "Content-Security-Policy": "sandbox",
    }
