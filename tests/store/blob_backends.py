"""Blob store back ends for the shared behavioural tests, and the moto S3 server they use.

Kept out of ``conftest.py`` so that worker processes can import :func:`open_backend` cheaply.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from typing import Any

from stackml.store.blobs.base import BlobStore

S3_BUCKET = "stackml-test"
S3_CREDENTIALS = {"key": "testing", "secret": "testing"}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def s3_options(endpoint: str) -> dict[str, Any]:
    """Storage options that point s3fs at the moto server with dummy credentials."""
    return {
        **S3_CREDENTIALS,
        "client_kwargs": {"endpoint_url": endpoint, "region_name": "us-east-1"},
    }


@contextlib.contextmanager
def moto_s3() -> Iterator[str]:
    """Run moto's real S3 HTTP server on loopback with one bucket; yield its endpoint URL."""
    import boto3
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        client.create_bucket(Bucket=S3_BUCKET)
        yield endpoint
    finally:
        server.stop()


def open_backend(kind: str, location: str, endpoint: str | None = None) -> BlobStore:
    """Open a blob store by kind: ``local`` and ``file`` take a folder, ``s3`` and
    ``memory`` a URL."""
    if kind == "local":
        from stackml.store.blobs.local import LocalBlobStore

        return LocalBlobStore(location)
    from stackml.store.blobs.fsspec_store import FsspecBlobStore

    if kind == "s3":
        assert endpoint is not None
        return FsspecBlobStore(location, **s3_options(endpoint))
    if kind == "file":
        return FsspecBlobStore(f"file://{location}")
    return FsspecBlobStore(location)


def put_in_worker(
    kind: str, location: str, endpoint: str | None, payloads: list[bytes]
) -> list[str]:
    """Run in a separate process: store each payload and read it back; return the digests."""
    store = open_backend(kind, location, endpoint)
    digests = [store.put_bytes(data) for data in payloads]
    for digest, data in zip(digests, payloads, strict=True):
        assert store.get_bytes(digest) == data
    return digests
