"""The serving app over HTTP: v2 routes (also through ``tritonclient``), ``/predict``,
``/metrics``, the OpenAPI spec, bad input answered with 4xx, auth, size limits, timeouts."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from PIL import Image

from stackml.errors import NotFound
from stackml.serving import BatchPolicy, EndpointSpec, ServingOptions, ServingServer
from tests.serving.helpers import MlpPredictor, WinePredictor, reference, start, wait_ready


@pytest.fixture(scope="module")
def model() -> MlpPredictor:
    return MlpPredictor(seed=3, version=4)


@pytest.fixture(scope="module")
def server(model: MlpPredictor) -> Iterator[ServingServer]:
    s = start(
        {"digits@prod": model, "wine@prod": WinePredictor()},
        [EndpointSpec("digits@prod"), EndpointSpec("wine@prod")],
        options=ServingOptions(max_body_bytes=200_000, heartbeat_seconds=60),
    )
    wait_ready(s)
    yield s
    s.stop()


HTTP = httpx.Client(timeout=30)


def _v2(x: np.ndarray) -> dict:
    return {
        "inputs": [
            {
                "name": "image",
                "shape": list(x.shape),
                "datatype": "FP32",
                "data": x.ravel().tolist(),
            }
        ]
    }


def test_health_and_metadata(server: ServingServer) -> None:
    with httpx.Client(base_url=server.url) as c:
        assert c.get("/v2/health/live").json() == {"live": True}
        assert c.get("/v2/health/ready").json()["ready"] is True
        assert c.get("/v2").json()["extensions"] == ["binary_tensor_data"]
        meta = c.get("/v2/models/digits").json()
        assert meta["versions"] == ["4"]
        assert meta["inputs"] == [{"name": "image", "datatype": "FP32", "shape": [-1, 1, 8, 8]}]
        assert c.get("/v2/models/digits/versions/4").status_code == 200
        assert c.get("/v2/models/digits/versions/9").status_code == 404
        assert c.get("/v2/models/digits/ready").status_code == 200
        assert c.get("/v2/models/nope/ready").status_code == 404


def test_v2_json_infer_matches_the_model(server: ServingServer, model: MlpPredictor) -> None:
    x = np.random.default_rng(0).random((5, 1, 8, 8)).astype(np.float32) * 16
    r = httpx.post(server.url + "/v2/models/digits/infer", json=_v2(x) | {"id": "abc"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == "abc" and body["model_version"] == "4"
    out = np.array(body["outputs"][0]["data"], np.float32).reshape(body["outputs"][0]["shape"])
    np.testing.assert_allclose(out, reference(model, x), rtol=1e-5)
    assert r.headers["X-Model-Version"] == "4"
    versioned = httpx.post(server.url + "/v2/models/digits/versions/4/infer", json=_v2(x))
    assert versioned.status_code == 200


def test_tritonclient_binary_round_trip(server: ServingServer, model: MlpPredictor) -> None:
    client = triton.InferenceServerClient(server.url.removeprefix("http://"))
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("digits")
    assert client.get_model_metadata("digits")["platform"] == "onnxruntime"
    x = np.random.default_rng(1).random((7, 1, 8, 8)).astype(np.float32)
    tensor = triton.InferInput("image", list(x.shape), "FP32")
    tensor.set_data_from_numpy(x)  # binary tensor extension by default
    wanted = triton.InferRequestedOutput("probabilities")  # binary output by default
    result = client.infer("digits", [tensor], outputs=[wanted], request_id="t1")
    np.testing.assert_allclose(result.as_numpy("probabilities"), reference(model, x), rtol=1e-5)
    as_json = triton.InferInput("image", list(x.shape), "FP32")
    as_json.set_data_from_numpy(x, binary_data=False)
    plain = client.infer(
        "digits",
        [as_json],
        outputs=[triton.InferRequestedOutput("probabilities", binary_data=False)],
    )
    np.testing.assert_allclose(plain.as_numpy("probabilities"), reference(model, x), rtol=1e-5)
    client.close()


def test_predict_tensors_records_and_images(server: ServingServer, model: MlpPredictor) -> None:
    x = np.random.default_rng(2).random((2, 1, 8, 8)).astype(np.float32)
    r = httpx.post(
        server.url + "/predict", json={"model": "digits", "inputs": {"image": x.tolist()}}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    expected = reference(model, x)
    assert [p["label"] for p in body["predictions"]] == [str(i) for i in expected.argmax(1)]
    assert body["predictions"][0]["confidence"] == pytest.approx(float(expected[0].max()), 1e-5)
    assert body["version"] == 4 and body["variant"] == "primary" and body["request_id"]
    wine = httpx.post(
        server.url + "/predict",
        json={"model": "wine", "records": [{"alcohol": 1, "acidity": 2, "hue": 3}]},
    )
    assert wine.status_code == 200 and wine.json()["outputs"]["score"] == [[14.0]]
    png = io.BytesIO()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(png, format="PNG")
    up = httpx.post(
        server.url + "/predict",
        data={"model": "digits"},
        files={"file": ("seven.png", png.getvalue(), "image/png")},
    )
    assert up.status_code == 200, up.text
    assert up.json()["predictions"][0]["label"] == str(
        int(reference(model, np.zeros((1, 1, 8, 8), np.float32)).argmax())
    )


BAD = [
    ("/v2/models/digits/infer", {"content": b"{oops"}, 400, "malformed JSON"),
    (
        "/v2/models/digits/infer",
        {
            "json": {
                "inputs": [
                    {"name": "image", "shape": [1, 8, 8], "datatype": "FP32", "data": [0] * 64}
                ]
            }
        },
        400,
        "dimensions",
    ),
    (
        "/v2/models/digits/infer",
        {
            "json": {
                "inputs": [
                    {
                        "name": "image",
                        "shape": [1, 1, 8, 8],
                        "datatype": "BOOL",
                        "data": [True] * 64,
                    }
                ]
            }
        },
        400,
        "expected float32",
    ),
    (
        "/v2/models/digits/infer",
        {
            "json": {
                "inputs": [
                    {"name": "pixels", "shape": [1, 1, 8, 8], "datatype": "FP32", "data": [0] * 64}
                ]
            }
        },
        400,
        "unexpected \\['pixels'\\]",
    ),
    (
        "/v2/models/digits/infer",
        {
            "content": json.dumps(
                {
                    "inputs": [
                        {
                            "name": "image",
                            "shape": [1, 1, 8, 8],
                            "datatype": "FP32",
                            "data": [float("nan")] * 64,
                        }
                    ]
                }
            ).encode()
        },
        400,
        "NaN",
    ),
    ("/v2/models/nope/infer", {"json": {"inputs": []}}, 404, "no model 'nope'"),
    ("/v2/models/digits/versions/x1/infer", {"json": {"inputs": []}}, 400, "whole number"),
    (
        "/predict",
        {"json": {"model": "wine", "records": [{"alcohol": 1, "hue": 2}]}},
        400,
        "missing fields",
    ),
    (
        "/predict",
        {"json": {"model": "wine", "records": [{"alcohol": 1, "acidity": 1, "hue": 2, "x": 1}]}},
        400,
        "unexpected fields",
    ),
    (
        "/predict",
        {
            "content": b'{"model": "wine", "records": [{"alcohol": NaN, "acidity": 1, "hue": 2}]}',
            "headers": {"content-type": "application/json"},
        },
        400,
        "may not be null or NaN",
    ),
    (
        "/predict",
        {"data": {"model": "digits"}, "files": {"file": ("x.png", b"not an image", "image/png")}},
        400,
        "not an image",
    ),
    (
        "/predict",
        {"content": b"{oops", "headers": {"content-type": "application/json"}},
        400,
        "malformed JSON",
    ),
    ("/predict", {"json": {"model": "digits", "bogus": 1}}, 400, "bogus"),
    (
        "/predict",
        {"content": b"x", "headers": {"content-type": "text/plain"}},
        415,
        "unsupported content type",
    ),
    (
        "/predict",
        {"content": b"x" * 300_000, "headers": {"content-type": "application/json"}},
        413,
        "larger than",
    ),
]


@pytest.mark.parametrize(("path", "kwargs", "status", "message"), BAD)
def test_bad_input_gets_a_4xx_naming_the_problem(
    server: ServingServer, path: str, kwargs: dict, status: int, message: str
) -> None:
    r = HTTP.post(server.url + path, **kwargs)
    assert r.status_code == status, r.text
    import re

    assert re.search(message, r.json()["error"]), r.json()
    assert HTTP.get(server.url + "/v2/health/ready").status_code == 200
    ok = HTTP.post(server.url + "/v2/models/digits/infer", json=_v2(np.zeros((1, 1, 8, 8))))
    assert ok.status_code == 200


def test_chunked_oversized_body_is_413(server: ServingServer) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(30):
            yield b"x" * 10_000

    r = httpx.post(
        server.url + "/predict", content=chunks(), headers={"content-type": "application/json"}
    )
    assert r.status_code == 413


def test_metrics_and_openapi(server: ServingServer) -> None:
    httpx.post(server.url + "/v2/models/digits/infer", json=_v2(np.zeros((3, 1, 8, 8))))
    bad = httpx.post(server.url + "/v2/models/digits/infer", content=b"{not json")
    assert bad.status_code == 400
    text = httpx.get(server.url + "/metrics").text
    for name in (
        'stackml_serving_requests_total{code="200",model="digits",route="infer"}',
        'stackml_serving_requests_total{code="400"',
        "stackml_serving_request_latency_seconds_bucket",
        "stackml_serving_batch_size_rows_bucket",
        "stackml_serving_queue_depth_rows",
        "stackml_serving_model_load_seconds",
        "stackml_serving_in_flight_requests 0.0",  # read when scraped: nothing is running
    ):
        assert name in text, name
    spec = httpx.get(server.url + "/openapi.json").json()
    paths = spec["paths"]
    for route in (
        "/v2/health/live",
        "/v2/health/ready",
        "/v2",
        "/v2/models/{name}",
        "/v2/models/{name}/versions/{version}",
        "/v2/models/{name}/ready",
        "/v2/models/{name}/infer",
        "/predict",
        "/feedback",
        "/metrics",
    ):
        assert route in paths, route
    infer = paths["/v2/models/{name}/infer"]["post"]
    assert set(infer["requestBody"]["content"]) == {"application/json", "application/octet-stream"}
    assert "503" in infer["responses"] and "400" in infer["responses"]
    predict = paths["/predict"]["post"]
    assert "multipart/form-data" in predict["requestBody"]["content"]
    assert predict["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "PredictOut"
    )


def test_open_connections_count_as_requests_that_may_join_a_batch() -> None:
    """The batcher starts a batch at once when nothing else can join; a keep-alive client's
    next request can, so the server reports its open connections to the batcher."""
    import time

    s = start({"digits@prod": MlpPredictor()})
    try:
        wait_ready(s)
        variant = s.runtime.endpoint("digits").variants[0]

        def settle(expected: int) -> None:
            deadline = time.monotonic() + 10
            while s.runtime.metrics.connections() != expected and time.monotonic() < deadline:
                time.sleep(0.02)
            assert s.runtime.metrics.connections() == expected

        settle(0)
        clients = [httpx.Client(timeout=10) for _ in range(3)]
        for client in clients:
            answer = client.post(
                s.url + "/v2/models/digits/infer", json=_v2(np.zeros((1, 1, 8, 8)))
            )
            assert answer.status_code == 200
        settle(3)
        assert s.runtime.metrics.active == 0 and variant._outstanding() == 3
        for client in clients:
            client.close()
        settle(0)
    finally:
        s.stop()


def test_token_auth_and_timeouts() -> None:
    slow = MlpPredictor(delay=0.5)
    s = start({"digits@prod": slow}, options=ServingOptions(token="s3cret", request_timeout_s=0.2))
    try:
        wait_ready(s)  # health needs no token
        x = _v2(np.zeros((1, 1, 8, 8)))
        assert httpx.post(s.url + "/v2/models/digits/infer", json=x).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert (
            httpx.post(s.url + "/v2/models/digits/infer", json=x, headers=wrong).status_code == 401
        )
        good = {"Authorization": "Bearer s3cret"}
        slow.warm = True
        r = httpx.post(s.url + "/v2/models/digits/infer", json=x, headers=good)
        assert r.status_code == 504 and "within 0.2s" in r.json()["error"]
        assert httpx.get(s.url + "/metrics").status_code == 200
    finally:
        s.stop()


def test_full_queue_sheds_with_503_and_retry_after() -> None:
    import asyncio

    slow = MlpPredictor(delay=0.3)
    policy = BatchPolicy(max_batch_rows=1, max_queue_rows=2, max_wait_ms=0)
    s = start({"digits@prod": slow}, options=ServingOptions(policy=policy))
    try:
        wait_ready(s)

        async def burst() -> list[httpx.Response]:
            async with httpx.AsyncClient(base_url=s.url, timeout=30) as c:
                body = _v2(np.zeros((1, 1, 8, 8)))
                return await asyncio.gather(
                    *(c.post("/v2/models/digits/infer", json=body) for _ in range(10))
                )

        answers = asyncio.run(burst())
        codes = sorted(r.status_code for r in answers)
        assert 200 in codes and 503 in codes and set(codes) <= {200, 503}
        shed = next(r for r in answers if r.status_code == 503)
        assert int(shed.headers["Retry-After"]) >= 1 and "queue is full" in shed.json()["error"]
    finally:
        s.stop()


def test_stackml_api_tokens_are_accepted_with_store_tokens(tmp_path: Path) -> None:
    from stackml.store import open_store

    store = open_store(str(tmp_path / "store"))
    store.metadata.create_user("ada")
    secret, token = store.metadata.create_token("ada", "serving")
    s = start(
        {"digits@prod": MlpPredictor()},
        store=store,
        options=ServingOptions(store_tokens=True, log_rate=0.0, record_deployment=False),
    )
    try:
        wait_ready(s)
        body = _v2(np.zeros((1, 1, 8, 8)))
        url = s.url + "/v2/models/digits/infer"
        assert HTTP.post(url, json=body).status_code == 401
        assert (
            HTTP.post(url, json=body, headers={"Authorization": "Bearer nope"}).status_code == 401
        )
        ok = HTTP.post(url, json=body, headers={"Authorization": f"Bearer {secret}"})
        assert ok.status_code == 200
        store.metadata.revoke_token(token.id)
        s.app._known.clear()  # the one-minute cache, skipped here
        gone = HTTP.post(url, json=body, headers={"Authorization": f"Bearer {secret}"})
        assert gone.status_code == 401
    finally:
        s.stop()
        store.close()
    reopened = open_store(str(tmp_path / "store"))
    with pytest.raises(NotFound):  # nothing was recorded
        reopened.metadata.get_deployment("digits")
    reopened.close()


def test_infer_route_is_answered_without_fastapi() -> None:
    """The hot route takes the direct ASGI path; other paths under /v2/models do not."""
    from stackml.serving.app import DirectInfer

    assert DirectInfer.target("/v2/models/digits/infer") == ("digits", None)
    assert DirectInfer.target("/v2/models/digits/versions/4/infer") == ("digits", 4)
    for other in ("/v2/models/digits", "/v2/models//infer", "/v2/models/a/b/infer"):
        assert DirectInfer.target(other) is None


def test_live_page_shows_each_recent_request_with_its_label(
    server: ServingServer, model: MlpPredictor
) -> None:
    x = np.random.default_rng(5).random((2, 1, 8, 8)).astype(np.float32)
    r = httpx.post(server.url + "/v2/models/digits/infer", json=_v2(x))
    assert r.status_code == 200, r.text
    request_id = r.json()["parameters"]["request_id"]
    recent = httpx.get(server.url + "/live").json()["metrics"]["recent"]
    mine = next(entry for entry in recent if entry["request_id"] == request_id)
    expected = reference(model, x)
    assert mine["model"] == "digits" and mine["version"] == 4
    assert mine["prediction"] == str(int(expected[0].argmax()))  # the first row's label
    assert mine["confidence"] == pytest.approx(float(expected[0].max()), abs=1e-4)
