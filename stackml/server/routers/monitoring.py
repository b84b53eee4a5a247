"""REST API of the monitoring capability under ``/api/v1``: monitors, results, alerts, routing.

Also ``GET /api/v1/monitoring/metrics``: the latest drift scores of every monitor as
Prometheus gauges.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import Response
from pydantic import BaseModel

from stackml.server.auth import authenticated
from stackml.server.deps import get_metadata
from stackml.server.routers._common import API_PREFIX, ERROR_RESPONSES
from stackml.server.schemas import Body
from stackml.store.base import MetadataStore
from stackml.store.monitoring_base import AlertEvent, Monitor, MonitorResult, RoutedItem


@contextlib.asynccontextmanager
async def monitor_scheduler_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Run scheduled monitors (``schedule_s`` in their definition) while the app serves.

    ``app.state.monitor_poll_s`` (default 10 s) sets how often it looks;
    ``app.state.monitor_scheduler_enabled = False`` turns it off.
    """
    from stackml.monitoring.scheduler import MonitorScheduler

    scheduler = None
    if getattr(app.state, "monitor_scheduler_enabled", True):
        scheduler = MonitorScheduler(
            lambda: app.state.store, poll_s=float(getattr(app.state, "monitor_poll_s", 10.0))
        ).start()
        app.state.monitor_scheduler = scheduler
    try:
        yield
    finally:
        if scheduler is not None:
            scheduler.stop()


router = APIRouter(
    prefix=API_PREFIX,
    tags=["monitoring"],
    dependencies=[Depends(authenticated)],
    responses=ERROR_RESPONSES,
    lifespan=monitor_scheduler_lifespan,
)


class MonitorOut(BaseModel):
    name: str
    deployment: str
    spec: dict[str, Any]
    reference_hash: str | None
    created_at: int
    updated_at: int
    last_run_at: int | None
    last_window_end: int | None

    @classmethod
    def of(cls, m: Monitor) -> MonitorOut:
        return cls(
            name=m.name,
            deployment=m.deployment,
            spec=dict(m.spec),
            reference_hash=m.reference_hash,
            created_at=m.created_at,
            updated_at=m.updated_at,
            last_run_at=m.last_run_at,
            last_window_end=m.last_window_end,
        )


class MonitorIn(Body):
    name: str
    deployment: str
    spec: dict[str, Any]
    reference_hash: str | None = None


class MonitorPatch(Body):
    spec: dict[str, Any] | None = None
    reference_hash: str | None = None
    last_run_at: int | None = None
    last_window_end: int | None = None


class ResultOut(BaseModel):
    id: int
    monitor: str
    kind: str
    start_ms: int
    end_ms: int
    created_at: int
    payload: dict[str, Any]

    @classmethod
    def of(cls, r: MonitorResult) -> ResultOut:
        return cls(
            id=r.id,
            monitor=r.monitor,
            kind=r.kind,
            start_ms=r.start_ms,
            end_ms=r.end_ms,
            created_at=r.created_at,
            payload=dict(r.payload),
        )


class ResultIn(Body):
    kind: str
    start_ms: int
    end_ms: int
    payload: dict[str, Any]


class AlertOut(BaseModel):
    id: int
    monitor: str
    rule: str
    statistic: str
    value: float
    threshold: float
    severity: str
    message: str
    fired_at: int
    notified: list[str]

    @classmethod
    def of(cls, a: AlertEvent) -> AlertOut:
        return cls(
            id=a.id,
            monitor=a.monitor,
            rule=a.rule,
            statistic=a.statistic,
            value=a.value,
            threshold=a.threshold,
            severity=a.severity,
            message=a.message,
            fired_at=a.fired_at,
            notified=list(a.notified),
        )


class AlertIn(Body):
    rule: str
    statistic: str
    value: float
    threshold: float
    severity: str = "warning"
    message: str = ""
    notified: list[str] = []


class RoutedIn(Body):
    items: list[dict[str, Any]]


class RoutedOut(BaseModel):
    monitor: str
    request_id: str
    reason: str
    priority: float
    routed_at: int

    @classmethod
    def of(cls, r: RoutedItem) -> RoutedOut:
        return cls(
            monitor=r.monitor,
            request_id=r.request_id,
            reason=r.reason,
            priority=r.priority,
            routed_at=r.routed_at,
        )


@router.post("/monitors", response_model=MonitorOut, status_code=201)
def create_monitor(body: MonitorIn, store: MetadataStore = Depends(get_metadata)) -> MonitorOut:
    """Create a monitor of a deployment."""
    return MonitorOut.of(
        store.create_monitor(
            body.name, body.deployment, body.spec, reference_hash=body.reference_hash
        )
    )


@router.get("/monitors", response_model=list[MonitorOut])
def list_monitors(
    deployment: str | None = None, store: MetadataStore = Depends(get_metadata)
) -> list[MonitorOut]:
    """Every monitor, by name; optionally only one deployment's."""
    return [MonitorOut.of(m) for m in store.list_monitors(deployment)]


@router.get("/monitors/{name}", response_model=MonitorOut)
def get_monitor(name: str, store: MetadataStore = Depends(get_metadata)) -> MonitorOut:
    """One monitor."""
    return MonitorOut.of(store.get_monitor(name))


@router.patch("/monitors/{name}", response_model=MonitorOut)
def update_monitor(
    name: str, body: MonitorPatch, store: MetadataStore = Depends(get_metadata)
) -> MonitorOut:
    """Change a monitor's definition, reference or progress."""
    return MonitorOut.of(store.update_monitor(name, **body.model_dump()))


class MonitorDeletedOut(BaseModel):
    """The monitor that was deleted."""

    deleted: str


@router.delete("/monitors/{name}", response_model=MonitorDeletedOut)
def delete_monitor(name: str, store: MetadataStore = Depends(get_metadata)) -> MonitorDeletedOut:
    """Delete a monitor with its history."""
    store.delete_monitor(name)
    return MonitorDeletedOut(deleted=name)


@router.post("/monitors/{name}/results", response_model=ResultOut, status_code=201)
def add_result(
    name: str, body: ResultIn, store: MetadataStore = Depends(get_metadata)
) -> ResultOut:
    """Keep one evaluated window or flywheel turn."""
    return ResultOut.of(
        store.add_monitor_result(name, body.kind, body.start_ms, body.end_ms, body.payload)
    )


@router.get("/monitors/{name}/results", response_model=list[ResultOut])
def list_results(
    name: str,
    kind: str | None = None,
    since_ms: int | None = None,
    limit: int | None = None,
    store: MetadataStore = Depends(get_metadata),
) -> list[ResultOut]:
    """Results, oldest first (the newest ``limit`` when given)."""
    found = store.list_monitor_results(name, kind=kind, since_ms=since_ms, limit=limit)
    return [ResultOut.of(r) for r in found]


@router.post("/monitors/{name}/alerts", response_model=AlertOut, status_code=201)
def add_alert(name: str, body: AlertIn, store: MetadataStore = Depends(get_metadata)) -> AlertOut:
    """Record an alert that fired."""
    return AlertOut.of(store.add_alert_event(name, **body.model_dump()))


@router.get("/monitor-alerts", response_model=list[AlertOut])
def list_alerts(
    monitor: str | None = None,
    rule: str | None = None,
    limit: int = 100,
    store: MetadataStore = Depends(get_metadata),
) -> list[AlertOut]:
    """Alert history, newest first."""
    return [AlertOut.of(a) for a in store.list_alert_events(monitor, rule=rule, limit=limit)]


@router.post("/monitors/{name}/routed", response_model=list[str])
def record_routed(
    name: str, body: RoutedIn, store: MetadataStore = Depends(get_metadata)
) -> list[str]:
    """Remember routed requests; answers the ids that were new."""
    return store.record_routed(name, body.items)


@router.get("/monitors/{name}/routed", response_model=list[RoutedOut])
def list_routed(
    name: str, limit: int = 1000, store: MetadataStore = Depends(get_metadata)
) -> list[RoutedOut]:
    """Routed items, newest first."""
    return [RoutedOut.of(r) for r in store.list_routed(name, limit=limit)]


@router.get(
    "/monitoring/metrics",
    response_model=None,
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def drift_metrics(store: MetadataStore = Depends(get_metadata)) -> Response:
    """Latest drift scores of every monitor, as Prometheus gauges."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    from stackml.monitoring.prometheus import drift_registry

    return Response(generate_latest(drift_registry(store)), media_type=CONTENT_TYPE_LATEST)
