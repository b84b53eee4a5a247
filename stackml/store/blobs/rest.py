"""``RestBlobStore``: content-addressed blobs kept by a ``stackml server``.

Uploads stream the source in chunks (chunked transfer encoding) while hashing it, and the
server's answer is checked against the local hash. Downloads stream too and are verified
client-side, so a blob damaged at rest or in transit raises ``IntegrityError`` at end of file.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import BinaryIO

import httpx

from stackml._internal.hashing import CHUNK_SIZE, new_hasher
from stackml.errors import IntegrityError, NotFound, StoreUnavailable
from stackml.store._http import HttpTransport
from stackml.store.blobs._verified import verified_reader
from stackml.store.blobs.base import BlobStore, check_digest


class _ResponseBody(io.RawIOBase):
    """A raw, forward-only file over a streamed HTTP answer; closing it closes the answer."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__()
        self._response = response
        self._chunks = response.iter_bytes(CHUNK_SIZE)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        if not self._pending:
            try:
                self._pending = next(self._chunks, b"")
            except httpx.TransportError as exc:
                raise StoreUnavailable(
                    f"download interrupted ({exc}); the server closes a download early when "
                    "it finds the blob corrupt, so run `stackml fsck` there if this repeats"
                ) from exc
        n = min(len(view), len(self._pending))
        view[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def close(self) -> None:
        if not self.closed:
            try:
                self._response.close()
            finally:
                super().close()


class RestBlobStore(BlobStore):
    """Blobs reached through ``/api/v1/blobs`` of a ``stackml server``.

    Args:
        base_url: the server's root URL, e.g. ``http://127.0.0.1:5000``.
        token: API token, when the server runs with auth on.
        timeout: seconds per network operation (not per transfer).
    """

    def __init__(self, base_url: str, token: str | None = None, timeout: float = 60.0) -> None:
        self.http = HttpTransport(base_url, token, timeout=timeout)
        self.url = f"{self.http.base_url}/api/v1/blobs"

    def __repr__(self) -> str:
        return f"RestBlobStore({self.http.base_url!r})"

    def put_stream(self, stream: BinaryIO, *, expected_hash: str | None = None) -> str:
        if expected_hash is not None:
            check_digest(expected_hash)
        hasher = new_hasher()

        def chunks() -> Iterator[bytes]:
            while chunk := stream.read(CHUNK_SIZE):
                hasher.update(chunk)
                yield bytes(chunk)

        # No automatic retry: the source stream cannot be rewound in general.
        answer = self.http.request(
            "PUT",
            "/api/v1/blobs",
            params={"expected_hash": expected_hash},
            content=chunks(),
            headers={"Content-Type": "application/octet-stream"},
            retry=False,
        ).json()
        digest = str(answer["hash"])
        if digest != hasher.hexdigest():
            raise IntegrityError(
                f"the server stored {digest} but the bytes sent hash to {hasher.hexdigest()}; "
                "the upload was damaged in transit, try again"
            )
        return digest

    def _head(self, digest: str) -> httpx.Response:
        return self.http.request("HEAD", f"/api/v1/blobs/{check_digest(digest)}")

    def exists(self, digest: str) -> bool:
        try:
            self._head(digest)
        except NotFound:
            return False
        return True

    def size(self, digest: str) -> int:
        return int(self._head(digest).headers["content-length"])

    def open(self, digest: str) -> BinaryIO:
        response = self.http.open_stream("GET", f"/blobs/{check_digest(digest)}")
        body: BinaryIO = _ResponseBody(response)  # type: ignore[assignment]
        return verified_reader(body, digest, source=self.url)

    def delete(self, digest: str) -> None:
        self.http.call("DELETE", f"/blobs/{check_digest(digest)}")

    def iter_digests(self) -> Iterator[str]:
        yield from self.http.call("GET", "/blobs")["hashes"]

    def verify(self, digest: str) -> bool:
        return bool(self.http.call("POST", f"/blobs/{check_digest(digest)}/verify")["ok"])

    def quarantine(self, digest: str) -> None:
        self.http.call("POST", f"/blobs/{check_digest(digest)}/quarantine")

    def close(self) -> None:
        """Close pooled connections."""
        self.http.close()
