"""Bad input never produces a 500 or a traceback: typed errors, 400s, 404s and 413s."""

from __future__ import annotations

import json

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.server.conftest import Served


def _error(response: httpx.Response) -> dict[str, str]:
    body = response.json()
    assert set(body) == {"error"}
    assert "Traceback" not in response.text
    return body["error"]


def test_unknown_run_is_404(client: httpx.Client) -> None:
    for method, path in [
        ("GET", "/api/v1/runs/nope"),
        ("GET", "/api/v1/runs/nope/metrics"),
        ("GET", "/api/v1/runs/nope/artifacts"),
        ("DELETE", "/api/v1/runs/nope"),
    ]:
        response = client.request(method, path)
        assert response.status_code == 404, (method, path, response.text)
        assert _error(response)["type"] == "NotFound"


def test_malformed_json_is_400(client: httpx.Client) -> None:
    response = client.post(
        "/api/v1/projects", content=b'{"name": "p"', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    err = _error(response)
    assert err["type"] == "InvalidInput"
    assert "JSON" in err["message"]


def test_wrong_types_and_missing_fields_are_400(client: httpx.Client, served: Served) -> None:
    run = served.store.metadata.create_run("p")
    cases = [
        ("/api/v1/projects", {"name": 5}),
        ("/api/v1/projects", {}),
        ("/api/v1/projects", {"name": "p", "unexpected": 1}),
        ("/api/v1/runs/search", {"limit": "many"}),
        (
            f"/api/v1/runs/{run.id}/metrics",
            {"keys": ["a"], "values": ["x"], "steps": [0], "timestamps": [0]},
        ),
        (
            f"/api/v1/runs/{run.id}/metrics",
            {"keys": ["a"], "values": [1.0], "steps": [], "timestamps": [0]},
        ),
        (f"/api/v1/runs/{run.id}/params", {"values": {"lr": [1, 2]}}),
        ("/api/v1/projects", [1, 2, 3]),
    ]
    for path, body in cases:
        response = client.post(path, json=body)
        assert response.status_code == 400, (path, body, response.text)
        assert _error(response)["type"] == "InvalidInput"


def test_invalid_names_are_400(client: httpx.Client) -> None:
    response = client.post("/api/v1/projects", json={"name": "../evil"})
    assert response.status_code == 400
    assert _error(response)["type"] == "InvalidInput"


def test_duplicate_is_409(client: httpx.Client) -> None:
    assert client.post("/api/v1/projects", json={"name": "dup"}).status_code == 201
    response = client.post("/api/v1/projects", json={"name": "dup"})
    assert response.status_code == 409
    assert _error(response)["type"] == "AlreadyExists"


def test_unknown_route_and_method(client: httpx.Client) -> None:
    assert _error(client.get("/api/v1/nothing-here"))["type"] == "NotFound"
    response = client.put("/api/v1/projects")
    assert response.status_code == 405
    assert _error(response)["type"] == "MethodNotAllowed"


def test_oversized_body_is_413(client: httpx.Client, served: Served) -> None:
    big = {"name": "p", "description": "x" * (2 << 20)}  # server limit is 1 MiB
    response = client.post("/api/v1/projects", json=big)
    assert response.status_code == 413
    assert _error(response)["type"] == "PayloadTooLarge"
    assert served.store.metadata.list_projects() == []


def test_oversized_chunked_body_is_413(client: httpx.Client, served: Served) -> None:
    def chunks():
        yield b'{"name": "p", "description": "'
        for _ in range(40):
            yield b"x" * 65536
        yield b'"}'

    response = client.post(
        "/api/v1/projects", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert served.store.metadata.list_projects() == []


def test_small_chunked_body_is_accepted(client: httpx.Client) -> None:
    def chunks():
        yield b'{"name": "chunky"}'

    response = client.post(
        "/api/v1/projects", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 201, response.text


def test_streamed_uploads_are_exempt_from_the_limit(client: httpx.Client, served: Served) -> None:
    run = served.store.metadata.create_run("p")
    data = b"y" * (3 << 20)
    assert client.put("/api/v1/blobs", content=data).status_code == 200
    response = client.put(f"/api/v1/runs/{run.id}/artifacts/big.bin", content=data)
    assert response.status_code == 201


def test_invalid_content_length_never_reaches_the_app(served: Served) -> None:
    lines = "POST /api/v1/projects HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n"
    import socket

    with socket.create_connection(("127.0.0.1", served.server.port), timeout=10) as sock:
        sock.sendall((lines + "Connection: close\r\n\r\n").encode())
        answer = sock.recv(65536)
    assert answer.split()[1] == b"400"
    assert served.store.metadata.list_projects() == []


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
field_names = st.sampled_from(
    [
        "name",
        "project",
        "keys",
        "values",
        "steps",
        "timestamps",
        "limit",
        "filter",
        "order_by",
        "description",
        "tags",
        "params",
        "path",
        "blob_hash",
        "size",
    ]
)
bodies = st.dictionaries(field_names, json_values, max_size=6) | json_values


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=bodies)
def test_fuzzed_json_bodies_never_500(client: httpx.Client, served: Served, body: object) -> None:
    run_id = "fuzz-run-does-not-exist"
    for path in (
        "/api/v1/projects",
        "/api/v1/runs",
        f"/api/v1/runs/{run_id}/metrics",
        "/api/v1/lineage",
    ):
        response = client.post(path, content=json.dumps(body).encode())
        assert response.status_code < 500, (path, body, response.text)
        assert "Traceback" not in response.text
