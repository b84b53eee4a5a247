"""Web UI pages of the sweeps capability: ``/sweeps`` and ``/sweeps/{id}``."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from stackml.errors import StackmlError
from stackml.server.auth import authenticated
from stackml.server.deps import get_store
from stackml.server.routers.ui_session import page_response
from stackml.store import Store
from stackml.ui.tuning_pages import build_sweep_page, build_sweeps_view

router = APIRouter(include_in_schema=False, dependencies=[Depends(authenticated)])


@router.get("/sweeps", response_class=HTMLResponse)
def sweeps_page(
    request: Request,
    project: str | None = Query(default=None, max_length=128),
    store: Store = Depends(get_store),
) -> Response:
    """Every sweep, newest first."""
    try:
        view = build_sweeps_view(store.metadata, project)
    except StackmlError as exc:
        status = exc.http_status if exc.http_status < 500 else 400
        return page_response(
            request,
            "error.html",
            status=status,
            status_code=status,
            title="Sweeps",
            message=str(exc),
        )
    return page_response(request, "sweeps.html", view=view, active="sweeps")


@router.get("/sweeps/{sweep_id}", response_class=HTMLResponse)
def sweep_page(sweep_id: str, request: Request, store: Store = Depends(get_store)) -> Response:
    """One sweep: charts, importances and trials."""
    try:
        page = build_sweep_page(store, sweep_id)
    except StackmlError as exc:
        status = exc.http_status if exc.http_status < 500 else 400
        return page_response(
            request,
            "error.html",
            status=status,
            status_code=status,
            title="Sweep",
            message=str(exc),
        )
    return page_response(request, "sweep.html", page=page, active="sweeps")
