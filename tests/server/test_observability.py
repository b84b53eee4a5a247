"""Health, Prometheus metrics, the OpenAPI spec and access-log redaction."""

from __future__ import annotations

import logging

import httpx
from prometheus_client.parser import text_string_to_metric_families

from stackml import __version__
from stackml.server.runner import RedactQueryStrings
from tests.server.conftest import Served


def test_health(client: httpx.Client) -> None:
    body = client.get("/health").json()
    assert body == {"status": "ok", "version": __version__, "checks": {"metadata": "ok"}}


def _samples(client: httpx.Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_prometheus_counts_requests_by_route_template(client: httpx.Client) -> None:
    key = (
        "stackml_http_requests_total",
        (("method", "GET"), ("route", "/api/v1/runs/{run_id}"), ("status", "404")),
    )
    before = _samples(client).get(key, 0.0)
    for i in range(3):
        assert client.get(f"/api/v1/runs/missing-{i}").status_code == 404
    after = _samples(client)
    assert after[key] == before + 3
    assert any(name == "stackml_http_request_duration_seconds_bucket" for name, _ in after)
    assert after[("stackml_http_requests_in_flight", ())] >= 1  # the scrape itself
    # Raw paths never become labels.
    assert not any("missing-1" in str(labels) for _, labels in after)


def test_openapi_lists_every_route_with_response_schemas(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["info"]["title"] == "stackml"
    paths = spec["paths"]
    app = client.get  # noqa: F841 - the served app's routes are checked below via the spec
    expected = {
        "/health",
        "/metrics",
        "/api/v1/projects",
        "/api/v1/projects/{name}",
        "/api/v1/experiments",
        "/api/v1/experiments/{experiment_id}",
        "/api/v1/projects/{project}/experiments/{name}",
        "/api/v1/runs",
        "/api/v1/runs/search",
        "/api/v1/runs/{run_id}",
        "/api/v1/runs/{run_id}/params",
        "/api/v1/runs/{run_id}/tags",
        "/api/v1/runs/{run_id}/metrics",
        "/api/v1/runs/{run_id}/metrics/history",
        "/api/v1/runs/{run_id}/artifacts",
        "/api/v1/runs/{run_id}/artifact",
        "/api/v1/runs/{run_id}/artifacts/{path}",
        "/api/v1/blobs",
        "/api/v1/blobs/{digest}",
        "/api/v1/lineage",
        "/api/v1/users",
        "/api/v1/users/{name}",
        "/api/v1/users/{name}/tokens",
        "/api/v1/tokens",
        "/api/v1/tokens/{token_id}",
        "/api/v1/whoami",
    }
    assert expected <= set(paths)
    for path, operations in paths.items():
        for method, op in operations.items():
            ok = [code for code in op["responses"] if code.startswith("2")]
            assert ok, (path, method)
            success = op["responses"][ok[0]]
            if method != "head":
                assert success.get("content"), (path, method)
                schema = next(iter(success["content"].values()))["schema"]
                assert schema, (path, method)
    run = paths["/api/v1/runs/{run_id}"]["get"]["responses"]["200"]
    assert run["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/RunOut"}
    assert paths["/api/v1/runs/{run_id}"]["get"]["responses"]["404"]


def test_access_log_redacts_query_strings() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", "/api/v1/projects?token=sekrit", "1.1", 200),
        None,
    )
    assert RedactQueryStrings().filter(record)
    assert "sekrit" not in record.getMessage()
    assert "/api/v1/projects" in record.getMessage()


def test_metrics_isolated_per_app(served: Served, tmp_path) -> None:
    from stackml.server import create_app

    other = create_app(served.store)
    assert other.state.metrics.registry is not served.server.app.state.metrics.registry
