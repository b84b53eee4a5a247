"""Prediction logging, feedback, canary and shadow traffic, hot reload on an alias move, a
model that fails to load, and the deployment record."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pyarrow.compute as pc
import pytest

from stackml.serving import EndpointSpec, ServingOptions, read_prediction_tensors, read_predictions
from stackml.serving.logs import PredictionLogger, PredictionRecord
from stackml.store import Store, open_store
from tests.serving.helpers import MlpPredictor, WinePredictor, reference, start, wait_ready

HTTP = httpx.Client(timeout=30)  # one client: building one per call costs more than a request
FAST_LOG = {"log_flush_seconds": 0.1, "heartbeat_seconds": 0.2, "reload_seconds": 0.2}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(str(tmp_path / "store"))
    yield s
    s.close()


def _infer(url: str, x: np.ndarray, name: str = "digits") -> httpx.Response:
    body = {
        "inputs": [
            {
                "name": "image",
                "shape": list(x.shape),
                "datatype": "FP32",
                "data": x.ravel().tolist(),
            }
        ]
    }
    return HTTP.post(f"{url}/v2/models/{name}/infer", json=body)


def _wait(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition never held")


def test_predictions_are_logged_and_read_back(store: Store) -> None:
    model = MlpPredictor(seed=1, version=2)
    s = start(
        {"digits@prod": model, "wine@prod": WinePredictor()},
        [EndpointSpec("digits@prod"), EndpointSpec("wine@prod")],
        options=ServingOptions(deployment="digits-api", **FAST_LOG),
        store=store,
    )
    try:
        wait_ready(s)
        rng = np.random.default_rng(0)
        images = [rng.random((1, 1, 8, 8)).astype(np.float32) for _ in range(5)]
        ids = [_infer(s.url, x).headers["X-Request-Id"] for x in images]
        multi = _infer(s.url, np.concatenate(images[:2])).headers["X-Request-Id"]
        wine = HTTP.post(
            s.url + "/predict",
            json={"model": "wine", "records": [{"alcohol": 1.5, "acidity": None, "hue": 3}]},
        )
        assert wine.status_code == 200
        _wait(lambda: read_predictions(store, "digits-api").num_rows == 8)
        table = read_predictions(store, "digits-api")
        rows = table.to_pylist()
        by_id = {r["request_id"]: r for r in rows}
        assert set(ids) | {f"{multi}.0", f"{multi}.1"} <= set(by_id)
        first = by_id[ids[0]]
        expected = reference(model, images[0])[0]
        assert (
            first["model"] == "digits" and first["version"] == 2 and first["variant"] == "primary"
        )
        assert first["prediction"] == str(int(expected.argmax()))
        assert first["confidence"] == pytest.approx(float(expected.max()), rel=1e-5)
        assert np.allclose(first["probabilities"], expected, rtol=1e-5)
        assert first["latency_ms"] > 0 and first["deployment"] == "digits-api"
        images_only = table.filter(pc.is_valid(table["input_row"]))
        tensors = read_prediction_tensors(store, images_only)
        assert tensors.shape == (7, 1, 8, 8)
        position = images_only["request_id"].to_pylist().index(ids[3])
        np.testing.assert_array_equal(tensors[position], images[3][0])
        record = next(r for r in rows if r["model"] == "wine")
        assert record["f.alcohol"] == 1.5 and record["f.acidity"] is None and record["f.hue"] == 3
        assert record["confidence"] is None and '"score"' in record["prediction"]
        newest = read_predictions(store, "digits-api", limit=2)
        assert newest.num_rows == 2
        later = read_predictions(store, "digits-api", since_ms=int(time.time() * 1000) + 60_000)
        assert later.num_rows == 0
        # feedback on a served request
        r = HTTP.post(s.url + "/feedback", json={"request_id": ids[0], "label": "7"})
        assert r.status_code == 200 and r.json()["label"] == "7"
        flagged = HTTP.post(s.url + "/feedback", json={"request_id": ids[1], "flag": "wrong"})
        assert flagged.status_code == 200
        assert HTTP.post(s.url + "/feedback", json={"request_id": ids[1]}).status_code == 400
        found = store.metadata.list_feedback("digits-api", request_ids=[ids[0]])
        assert [(f.label, f.flag) for f in found] == [("7", None)]
        # the deployment record with its heartbeat and live metrics
        _wait(
            lambda: (
                store.metadata.get_deployment("digits-api").metrics.get("requests_total", 0) >= 7
            )
        )
        deployment = store.metadata.get_deployment("digits-api")
        assert deployment.status == "ready" and deployment.url == s.url
        assert {m["name"] for m in deployment.models} == {"digits", "wine"}
        assert deployment.metrics["recent"][0]["request_id"]
    finally:
        s.stop()
    assert store.metadata.get_deployment("digits-api").status == "stopped"


def test_sampling_logs_a_share_and_never_blocks(store: Store) -> None:
    logger = PredictionLogger(store, "sampled", chunk_rows=50, flush_seconds=0.05, max_queue=10)
    started = time.perf_counter()
    for i in range(1000):
        logger.log(PredictionRecord(f"r{i}", 1000 + i, "sampled", "m", 1, "primary", 1.0, "x"))
    assert time.perf_counter() - started < 5  # a full queue drops instead of waiting
    logger.close()
    assert logger.stats.dropped > 0
    assert read_predictions(store, "sampled").num_rows == logger.stats.logged
    s = start(
        {"digits@prod": MlpPredictor()},
        options=ServingOptions(deployment="half", log_rate=0.5, **FAST_LOG),
        store=store,
    )
    try:
        wait_ready(s)
        for _ in range(60):
            assert _infer(s.url, np.zeros((1, 1, 8, 8), np.float32)).status_code == 200
    finally:
        s.stop()
    logged = read_predictions(store, "half").num_rows
    assert 5 < logged < 55


def test_canary_split_and_shadow_logging(store: Store) -> None:
    stable, candidate = MlpPredictor(seed=1, version=1), MlpPredictor(seed=2, version=2)
    shadow = MlpPredictor(seed=3, version=3)
    models = {"digits@prod": stable, "digits@candidate": candidate, "digits@staging": shadow}
    spec = EndpointSpec("digits@prod", canary="digits@candidate", canary_weight=0.3)
    s = start(models, [spec], options=ServingOptions(deployment="canary", **FAST_LOG), store=store)
    try:
        wait_ready(s)
        versions = [
            _infer(s.url, np.zeros((1, 1, 8, 8))).headers["X-Model-Version"] for _ in range(200)
        ]
        share = versions.count("2") / len(versions)
        assert set(versions) == {"1", "2"} and 0.15 < share < 0.45
        x = np.ones((1, 1, 8, 8), np.float32)
        pinned = HTTP.post(
            s.url + "/v2/models/digits/versions/2/infer",
            json={
                "inputs": [
                    {
                        "name": "image",
                        "shape": [1, 1, 8, 8],
                        "datatype": "FP32",
                        "data": x.ravel().tolist(),
                    }
                ]
            },
        )
        assert np.allclose(
            pinned.json()["outputs"][0]["data"], reference(candidate, x).ravel(), rtol=1e-5
        )
    finally:
        s.stop()
    logged = read_predictions(store, "canary")
    assert set(logged["variant"].to_pylist()) == {"primary", "canary"}

    spec = EndpointSpec("digits@prod", shadow="digits@staging")
    s = start(
        models, [spec], options=ServingOptions(deployment="shadowed", **FAST_LOG), store=store
    )
    try:
        wait_ready(s)
        x = np.random.default_rng(4).random((1, 1, 8, 8)).astype(np.float32)
        answers = [_infer(s.url, x) for _ in range(10)]
        for r in answers:  # callers get the primary's answer
            got = np.array(r.json()["outputs"][0]["data"], np.float32)
            assert np.allclose(got, reference(stable, x).ravel(), rtol=1e-5)
        _wait(lambda: read_predictions(store, "shadowed").num_rows == 10)
    finally:
        s.stop()
    table = read_predictions(store, "shadowed")
    assert set(table["variant"].to_pylist()) == {"shadow"} and set(
        table["version"].to_pylist()
    ) == {3}
    ids = {r.headers["X-Request-Id"] for r in answers}
    assert set(table["request_id"].to_pylist()) == ids
    assert table["prediction"][0].as_py() == str(int(reference(shadow, x).argmax()))


def test_alias_move_hot_reloads_without_dropping_requests(store: Store) -> None:
    v1, v2 = MlpPredictor(seed=1, version=1), MlpPredictor(seed=2, version=2)
    current = {"version": 1}

    def loader(ref: str) -> MlpPredictor:
        return v1 if current["version"] == 1 else v2

    s = start(
        {"digits@prod": v1},
        options=ServingOptions(**FAST_LOG),
        resolver=lambda ref: ("digits", current["version"]),
    )
    s.runtime.endpoints["digits"].primary.loader = loader
    try:
        wait_ready(s)
        x = np.random.default_rng(2).random((1, 1, 8, 8)).astype(np.float32)
        answers = {1: reference(v1, x).ravel(), 2: reference(v2, x).ravel()}
        seen: list[int] = []
        failures: list[str] = []

        async def hammer() -> None:
            async with httpx.AsyncClient(base_url=s.url, timeout=30) as c:
                body = {
                    "inputs": [
                        {
                            "name": "image",
                            "shape": [1, 1, 8, 8],
                            "datatype": "FP32",
                            "data": x.ravel().tolist(),
                        }
                    ]
                }

                async def one() -> None:
                    for _ in range(40):
                        r = await c.post("/v2/models/digits/infer", json=body)
                        if r.status_code != 200:
                            failures.append(r.text)
                            continue
                        version = int(r.headers["X-Model-Version"])
                        got = np.array(r.json()["outputs"][0]["data"], np.float32)
                        if not np.allclose(got, answers[version], rtol=1e-5):
                            failures.append(f"wrong answer for version {version}")
                        seen.append(version)
                        if len(seen) == 40:  # move the alias while traffic flows
                            current["version"] = 2
                        await asyncio.sleep(0.01)

                await asyncio.gather(*(one() for _ in range(8)))

        asyncio.run(hammer())
        assert failures == []
        assert seen[0] == 1 and seen[-1] == 2 and len(seen) == 320
        assert seen.index(2) > 0 and 1 not in seen[seen.index(2) + 20 :]
        text = HTTP.get(s.url + "/metrics").text
        assert (
            'stackml_serving_model_load_seconds{model="digits",variant="primary",version="2"}'
            in text
        )
    finally:
        s.stop()


def test_a_model_that_fails_to_load_makes_readiness_false(store: Store) -> None:
    attempts = {"n": 0}
    good = MlpPredictor()

    def loader(ref: str) -> MlpPredictor:
        attempts["n"] += 1
        if attempts["n"] < 3:
            raise FileNotFoundError("model.onnx is missing from version 7")
        return good

    s = start({"digits@prod": good}, options=ServingOptions(retry_load_seconds=0.1, **FAST_LOG))
    s.runtime.endpoints["digits"].primary.loader = loader
    s.runtime.endpoints["digits"].primary.batcher = None
    s.runtime.endpoints["digits"].primary.error = "digits@prod: loading"
    try:
        ready = HTTP.get(s.url + "/v2/health/ready")
        # Either still failing (503 + reason) or recovered by the retry loop.
        if ready.status_code == 503:
            assert ready.json()["ready"] is False and ready.json()["reason"]
            infer = _infer(s.url, np.zeros((1, 1, 8, 8)))
            assert infer.status_code == 503 and "not ready" in infer.json()["error"]
        assert HTTP.get(s.url + "/v2/health/live").status_code == 200
        wait_ready(s)
        assert attempts["n"] >= 3
    finally:
        s.stop()


def test_load_failure_reason_is_reported() -> None:
    s = start(
        {"digits@prod": MlpPredictor()},
        [EndpointSpec("digits@missing")],
        options=ServingOptions(retry_load_seconds=30),
    )
    try:
        _wait(
            lambda: (
                HTTP.get(s.url + "/v2/health/ready").status_code == 503
                and "no model file" in HTTP.get(s.url + "/v2/health/ready").json()["reason"]
            )
        )
        reason = HTTP.get(s.url + "/v2/health/ready").json()["reason"]
        assert "digits@missing" in reason and "FileNotFoundError" in reason
        assert HTTP.get(s.url + "/v2/models/digits/ready").status_code == 503
    finally:
        s.stop()
