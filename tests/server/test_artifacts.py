"""Streamed blobs and artifacts through a live server, and path traversal attempts."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from stackml._internal.hashing import hash_bytes, hash_file
from stackml.errors import IntegrityError, InvalidInput, NotFound
from stackml.store.blobs.rest import RestBlobStore
from tests.server.conftest import Served, raw_request

MB = 1 << 20


@pytest.fixture
def big_file(tmp_path: Path) -> Path:
    path = tmp_path / "weights.bin"
    with open(path, "wb") as fh:
        for _ in range(6):
            fh.write(os.urandom(MB))
        fh.write(b"tail")
    return path


@pytest.fixture
def rest_blobs(served: Served) -> Iterator[RestBlobStore]:
    store = RestBlobStore(served.url)
    yield store
    store.close()


def test_blob_stream_round_trip_multi_mb(
    rest_blobs: RestBlobStore, served: Served, big_file: Path, tmp_path: Path
) -> None:
    expected = hash_file(big_file)
    digest = rest_blobs.put_file(big_file)
    assert digest == expected
    assert served.store.blobs.exists(digest)  # really landed in the served store
    assert rest_blobs.exists(digest)
    assert rest_blobs.size(digest) == big_file.stat().st_size
    out = rest_blobs.get_file(digest, tmp_path / "copy.bin")
    assert hash_file(out) == expected
    assert digest in set(rest_blobs.iter_digests())
    assert rest_blobs.verify(digest)


def test_blob_expected_hash_mismatch_is_400_and_nothing_kept(
    client: httpx.Client, rest_blobs: RestBlobStore, served: Served
) -> None:
    wrong = hash_bytes(b"something else")
    response = client.put("/api/v1/blobs", params={"expected_hash": wrong}, content=b"payload")
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "IntegrityError"
    assert not served.store.blobs.exists(hash_bytes(b"payload"))
    with pytest.raises(IntegrityError):
        rest_blobs.put_stream(io.BytesIO(b"payload"), expected_hash=wrong)


def test_blob_missing_and_malformed(client: httpx.Client, rest_blobs: RestBlobStore) -> None:
    absent = hash_bytes(b"never stored")
    assert not rest_blobs.exists(absent)
    with pytest.raises(NotFound):
        rest_blobs.get_bytes(absent)
    assert client.get(f"/api/v1/blobs/{absent}").status_code == 404
    response = client.get("/api/v1/blobs/not-a-hash")
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "InvalidInput"
    with pytest.raises(InvalidInput):
        rest_blobs.size("../../etc/passwd")


def test_blob_corrupt_on_server_fails_client_verification(
    rest_blobs: RestBlobStore, served: Served
) -> None:
    digest = rest_blobs.put_bytes(b"original content")
    blob_file = next(p for p in served.root.rglob(digest) if p.is_file())
    os.chmod(blob_file, 0o644)
    blob_file.write_bytes(b"tampered content")
    with pytest.raises(IntegrityError):
        rest_blobs.get_bytes(digest)


def test_artifact_upload_download_and_list(
    client: httpx.Client, served: Served, big_file: Path, tmp_path: Path
) -> None:
    run = served.store.metadata.create_run("proj")
    with open(big_file, "rb") as fh:
        response = client.put(f"/api/v1/runs/{run.id}/artifacts/model/weights.bin", content=fh)
    assert response.status_code == 201, response.text
    record = response.json()
    assert record["path"] == "model/weights.bin"
    assert record["blob_hash"] == hash_file(big_file)
    assert record["size"] == big_file.stat().st_size

    dest = tmp_path / "download.bin"
    with client.stream("GET", f"/api/v1/runs/{run.id}/artifacts/model/weights.bin") as r:
        assert r.status_code == 200
        assert r.headers["x-content-hash"] == record["blob_hash"]
        with open(dest, "wb") as out:
            for chunk in r.iter_bytes():
                out.write(chunk)
    assert hash_file(dest) == record["blob_hash"]

    listing = client.get(f"/api/v1/runs/{run.id}/artifacts").json()
    assert [a["path"] for a in listing] == ["model/weights.bin"]
    assert served.store.metadata.get_artifact(run.id, "model/weights.bin").size == record["size"]


def test_artifact_unknown_run_is_404_and_stores_nothing(
    client: httpx.Client, served: Served
) -> None:
    response = client.put("/api/v1/runs/no-such-run/artifacts/a.txt", content=b"x")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "NotFound"
    assert not served.store.blobs.exists(hash_bytes(b"x"))
    assert client.get("/api/v1/runs/no-such-run/artifacts/a.txt").status_code == 404


TRAVERSALS = [
    "../../../../etc/passwd",
    "a/../../secret.txt",
    "..%2f..%2fescape.txt",
    "%2e%2e/%2e%2e/escape.txt",
    "%2E%2E%2Fescape.txt",
    "%252e%252e/%252e%252e/escape.txt",
    "%252e%252e%252fescape.txt",
    "..%5c..%5cescape.txt",
    "..\\..\\escape.txt",
    "/etc/passwd",
    "%2fetc%2fpasswd",
    "escape.txt%00.png",
    "..;/escape.txt",
    "a/..;/..;/escape.txt",
    "%23/../escape.txt",
    "a%23/../../escape.txt",
    "./escape.txt",
    "a//b.txt",
    "C:%5cescape.txt",
]


@pytest.mark.parametrize("spelling", TRAVERSALS)
def test_artifact_path_traversal_rejected(served: Served, spelling: str, tmp_path: Path) -> None:
    run = served.store.metadata.create_run("proj")
    before = {p for p in tmp_path.rglob("*")}
    target = f"/api/v1/runs/{run.id}/artifacts/{spelling}"
    status, body = raw_request(served.server.port, "PUT", target, body=b"evil bytes")
    assert status == 400, (spelling, body)
    status, _ = raw_request(served.server.port, "GET", target)
    assert status == 400, spelling
    # Nothing was written anywhere: no blob, no record, no new file in or around the store.
    assert not served.store.blobs.exists(hash_bytes(b"evil bytes"))
    assert served.store.metadata.list_artifacts(run.id) == []
    assert {p for p in tmp_path.rglob("*")} - before == set()
    # Nor next to it: no escape.txt appeared in the session's temp folders (a test folder
    # named after a test with "escape" in its name is not one).
    assert not any(p.name.startswith("escape") for p in tmp_path.parent.rglob("*"))


def test_artifact_fragment_in_raw_target_never_escapes(served: Served, tmp_path: Path) -> None:
    # A literal '#' is not legal in a request target. h11 refuses it; httptools (what uvicorn
    # uses when it is installed) drops the fragment, as a URI fragment never names a resource,
    # so the request is for artifact "x" of the run. Either way the "../" after '#' reaches
    # nothing: no escape.txt anywhere, and at most the one artifact "x" inside the run.
    run = served.store.metadata.create_run("proj")
    target = f"/api/v1/runs/{run.id}/artifacts/x#/../../../escape.txt"
    status, _ = raw_request(served.server.port, "PUT", target, body=b"evil bytes")
    stored = [a.path for a in served.store.metadata.list_artifacts(run.id)]
    if status == 201:
        assert stored == ["x"]
    else:
        assert status in (400, 404) and stored == []
        assert not served.store.blobs.exists(hash_bytes(b"evil bytes"))
    assert not any(p.name.startswith("escape") for p in tmp_path.parent.rglob("*"))
