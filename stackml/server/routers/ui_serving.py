"""Web UI pages of the serving capability: ``/deployments`` (list), ``/deployments/{name}``
(traffic split, live metrics refreshed by HTMX, recent predictions) and
``/deployments/{name}/playground`` (try the model: a form from its signature or an image)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from stackml.errors import StackmlError
from stackml.server.auth import authenticated
from stackml.server.deps import get_store
from stackml.server.routers.ui_session import error_page, page_response
from stackml.server.security import check_csrf
from stackml.store import Store
from stackml.ui.serving_pages import (
    build_deployment_page,
    build_playground,
    list_deployments,
    send_to_playground,
)

router = APIRouter(include_in_schema=False, dependencies=[Depends(authenticated)])

MAX_UPLOAD = 8 << 20


def _error(request: Request, exc: StackmlError) -> Response:
    return error_page(request, exc, "Deployment")


@router.get("/deployments", response_class=HTMLResponse)
def deployments_page(request: Request, store: Store = Depends(get_store)) -> Response:
    """Every deployment with its status, models and traffic split."""
    rows = list_deployments(store)
    return page_response(request, "deployments.html", rows=rows, active="deployments")


@router.get("/deployments/{name}", response_class=HTMLResponse)
def deployment_page(name: str, request: Request, store: Store = Depends(get_store)) -> Response:
    """One deployment; its live region refreshes itself every two seconds."""
    try:
        page = build_deployment_page(store, name)
    except StackmlError as exc:
        return _error(request, exc)
    if request.headers.get("hx-request") == "true":
        return page_response(request, "_deploy_live.html", page=page)
    return page_response(request, "deployment.html", page=page, active="deployments")


@router.get("/deployments/{name}/playground", response_class=HTMLResponse)
def playground_page(name: str, request: Request, store: Store = Depends(get_store)) -> Response:
    """The playground form for the deployment's model."""
    try:
        page = build_playground(store, name)
    except StackmlError as exc:
        return _error(request, exc)
    return page_response(request, "playground.html", page=page, active="deployments")


@router.post("/deployments/{name}/playground", response_class=HTMLResponse)
async def playground_try(
    name: str, request: Request, store: Store = Depends(get_store)
) -> Response:
    """Send the filled form (or uploaded image) to the deployment and show its answer."""
    form = await request.form()
    try:
        check_csrf(request, str(form.get("csrf_token", "")))
        page = build_playground(store, name)
    except StackmlError as exc:
        return _error(request, exc)
    upload = form.get("file")
    image = None
    if upload is not None and not isinstance(upload, str):
        data = await upload.read(MAX_UPLOAD + 1)
        if len(data) > MAX_UPLOAD:
            page.error = f"the image is larger than {MAX_UPLOAD >> 20} MiB"
        else:
            image = (upload.filename or "upload", data, upload.content_type or "image/png")
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    if not page.error:
        import anyio.to_thread

        page = await anyio.to_thread.run_sync(send_to_playground, page, values, image)
    template = (
        "_playground_result.html"
        if request.headers.get("hx-request") == "true"
        else ("playground.html")
    )
    return page_response(request, template, page=page, active="deployments")
