"""The registry through ``stackml server``: the SDK end to end over HTTP, and authorship."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

import stackml
from stackml.registry import GateFailed, load, log_model, promote, register, rollback, set_gates
from stackml.server import create_app
from stackml.store import open_store
from tests.registry import npy_format
from tests.registry.conftest import SIGNATURE, weights
from tests.server.conftest import LiveServer


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveServer]:
    store = open_store(str(tmp_path / "served"))
    server = LiveServer(create_app(store)).start()
    yield server
    server.stop()
    store.close()


def test_register_promote_and_load_through_a_server(live: LiveServer) -> None:
    client = open_store(live.url)
    try:
        with stackml.start_run(
            project="demo", tracking_uri=live.url, capture_environment=False
        ) as run:
            run.log_metrics({"accuracy": 0.91})
            logged = log_model(
                run, weights(5), "model", format=npy_format.NAME, signature=SIGNATURE
            )
        version = register("iris", source=logged.source, description="over http", store=client)
        assert version.ref == "iris@1" and version.metrics == {"accuracy": 0.91}
        set_gates("iris", ["metric:accuracy>=0.95"], store=client)
        with pytest.raises(GateFailed):
            promote("iris@1", store=client)
        set_gates("iris", ["metric:accuracy>=0.9"], store=client)
        promote("iris@1", reason="good", author="ada", store=client)
        x = np.ones((3, 4), np.float32)
        out = load("iris@production", store=client).predict(x)
        np.testing.assert_allclose(out["y"], x @ weights(5), rtol=1e-6)
        register("iris", source=logged.source, store=client)
        promote("iris@2", store=client)
        assert rollback("iris", reason="undo", store=client).version == 1
    finally:
        client.close()
        stackml.tracking.reset()


def test_with_auth_the_token_says_who_moved_an_alias(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "auth"))
    server = LiveServer(create_app(store, auth=True)).start()
    try:
        meta = store.metadata
        meta.create_user("alice")
        secret, _ = meta.create_token("alice", "laptop")
        run = meta.create_run("demo")
        from stackml.store.entities import Artifact
        from stackml.store.registry_base import ModelFile, ModelVersionDraft

        meta.log_artifact(
            Artifact(run.id, "model/w.npy", "ab" * 32, 3, "application/octet-stream", 0)
        )
        meta.create_model_version(
            ModelVersionDraft(
                "iris",
                run.id,
                "model",
                "onnx",
                (ModelFile("model/w.npy", "ab" * 32, 3),),
                SIGNATURE.to_dict(),
            )
        )
        body = {"version": 1, "action": "promote", "author": "mallory", "reason": "trust me"}
        with httpx.Client(base_url=server.url + "/api/v1") as http:
            assert http.put("/models/iris/aliases/production", json=body).status_code == 401
            answer = http.put(
                "/models/iris/aliases/production",
                json=body,
                headers={"Authorization": f"Bearer {secret}"},
            )
        assert answer.status_code == 200 and answer.json()["author"] == "alice"
        assert meta.model_alias_history("iris")[0].author == "alice"
    finally:
        server.stop()
        store.close()
