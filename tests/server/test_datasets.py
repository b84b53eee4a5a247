"""Datasets over HTTP: the store contract through ``RestMetadataStore``, a whole add/get
through a server, and 4xx answers for bad input."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import stackml.data as sd
from stackml.store import open_store
from stackml.store.rest import RestMetadataStore
from tests.server.conftest import Served
from tests.store.test_sql_datasets import DatasetStoreContract


class TestRestDatasets(DatasetStoreContract):
    @pytest.fixture
    def store(self, served: Served) -> Iterator[RestMetadataStore]:
        with RestMetadataStore(served.url) as client:
            yield client  # type: ignore[misc]


def test_add_and_get_through_the_server(served: Served, tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    for i in range(20):
        (source / f"{i}.txt").write_text(f"row {i}")
    remote = open_store(served.url)
    try:
        v = sd.add("remote", source, store=remote, split={"train": 0.5, "test": 0.5})
        handle = sd.get("remote", "v1", dest=tmp_path / "out", store=remote)
        assert (handle.path / "7.txt").read_text() == "row 7"
        assert len(handle.to_pandas(split="train")) == 10
    finally:
        remote.close()
    # the server's own store sees the same version, blobs included
    local = sd.get("remote", v.id, store=served.store)
    assert local.version.num_files == 20 and local.manifest.by_path()["3.txt"].size == 5


def test_bad_requests_get_4xx_with_a_message(client: httpx.Client) -> None:
    answer = client.get("/api/v1/datasets/nope/versions/latest")
    assert answer.status_code == 404 and "does not exist" in answer.json()["error"]["message"]
    answer = client.post(
        "/api/v1/datasets/x/versions", json={"kind": "files", "num_files": 0, "size_bytes": 0}
    )
    assert answer.status_code == 400 and "manifest" in answer.json()["error"]["message"]
    answer = client.post("/api/v1/datasets/x/versions", json={"kind": "files", "bogus": 1})
    assert answer.status_code in (400, 422)
    answer = client.put("/api/v1/datasets/x/aliases/v1", json={"ref": "v1"})
    assert answer.status_code == 400
    assert client.get("/api/v1/datasets").json() == []
