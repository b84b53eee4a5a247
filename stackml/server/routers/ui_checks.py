"""The ML Test Score page of a model version: ``/models/{name}/versions/{ref}/check``."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from stackml.errors import StackmlError
from stackml.server.auth import authenticated
from stackml.server.deps import get_store
from stackml.server.routers.ui_session import page_response
from stackml.store import Store
from stackml.ui.checks_pages import build_check_view

router = APIRouter(include_in_schema=False, dependencies=[Depends(authenticated)])


@router.get("/models/{name}/versions/{ref}/check", response_class=HTMLResponse)
def check_page(
    name: str, ref: str, request: Request, store: Store = Depends(get_store)
) -> Response:
    """Every test's score and evidence, section scores, the final score and its band."""
    try:
        view = build_check_view(store, name, ref)
    except StackmlError as exc:
        status = exc.http_status if exc.http_status < 500 else 400
        return page_response(
            request,
            "error.html",
            status=status,
            status_code=status,
            title="ML Test Score",
            message=str(exc),
        )
    return page_response(request, "check.html", view=view, active="models")
