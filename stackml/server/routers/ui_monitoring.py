"""Web UI pages of the monitoring capability: ``/monitoring`` and ``/monitoring/{name}``."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from stackml.errors import StackmlError
from stackml.server.auth import authenticated
from stackml.server.deps import get_store
from stackml.server.routers.ui_session import page_response
from stackml.store import Store
from stackml.ui.monitoring_pages import build_monitor_page, list_monitor_rows

router = APIRouter(include_in_schema=False, dependencies=[Depends(authenticated)])


@router.get("/monitoring", response_class=HTMLResponse)
def monitors_page(request: Request, store: Store = Depends(get_store)) -> Response:
    """Every monitor with its latest drift share and last alert."""
    return page_response(
        request, "monitors.html", rows=list_monitor_rows(store), active="monitoring"
    )


@router.get("/monitoring/{name}", response_class=HTMLResponse)
def monitor_page(name: str, request: Request, store: Store = Depends(get_store)) -> Response:
    """One monitor's dashboard: drift over time, histograms, performance, alerts, flywheel."""
    try:
        page = build_monitor_page(store, name)
    except StackmlError as exc:
        status = exc.http_status if exc.http_status < 500 else 400
        return page_response(
            request,
            "error.html",
            status=status,
            status_code=status,
            title="Monitor",
            message=str(exc),
        )
    return page_response(request, "monitor.html", page=page, active="monitoring")
