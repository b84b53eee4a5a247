"""Prometheus metrics of the server, kept in a registry owned by each application.

A per-application :class:`~prometheus_client.CollectorRegistry` (not the process-global one)
lets tests and embedders create several apps in one process. Requests are labelled by route
template (``/api/v1/runs/{run_id}``), never by raw path, so label cardinality stays bounded.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stackml.server.auth import authenticated
from stackml.server.deps import get_metadata
from stackml.store.base import MetadataStore

_UNMATCHED = "<unmatched>"


class ServerMetrics:
    """The server's counters, histogram and gauge, in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "stackml_http_requests",
            "HTTP requests answered, by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "stackml_http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template",
            ["method", "route"],
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "stackml_http_requests_in_flight",
            "HTTP requests being answered now",
            registry=self.registry,
        )
        #: Requests being answered now (the gauge's value, readable without its lock).
        self.active = 0

    def exposition(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)


class RequestMetrics:
    """Pure ASGI middleware that counts and times requests."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # what the client gets if the application raises before answering
        started = time.perf_counter()

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.metrics.in_flight.inc()
        self.metrics.active += 1
        try:
            await self.app(scope, receive, recording_send)
        finally:
            self.metrics.active -= 1
            self.metrics.in_flight.dec()
            route = getattr(scope.get("route"), "path", _UNMATCHED)
            method = scope["method"]
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - started)


router = APIRouter(tags=["observability"], dependencies=[Depends(authenticated)])


@router.get(
    "/metrics",
    response_model=None,
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
)
def prometheus_metrics(request: Request, store: MetadataStore = Depends(get_metadata)) -> Response:
    """Prometheus text exposition of the server's metrics and of every monitor's latest
    drift scores (``stackml_monitor_*`` gauges; one scrape covers both)."""
    from stackml.monitoring.prometheus import drift_registry

    metrics: ServerMetrics = request.app.state.metrics
    body = metrics.exposition() + generate_latest(drift_registry(store))
    return Response(body, media_type=CONTENT_TYPE_LATEST)
