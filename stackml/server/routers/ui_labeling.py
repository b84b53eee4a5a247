"""Web UI pages of the labeling capability: ``/labeling`` (projects), ``/labeling/{name}``
(overview), ``/labeling/{name}/annotate`` (the keyboard-first annotator workspace) and
``/labeling/{name}/review`` (the review queue; its accept/reject forms post back here)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from stackml.errors import StackmlError
from stackml.server.auth import authenticated, current_user
from stackml.server.deps import get_store
from stackml.server.routers.labeling import acting, require, role_of
from stackml.server.routers.ui_session import error_page, page_response
from stackml.server.security import check_csrf
from stackml.store import Store
from stackml.store.labeling_entities import role_at_least
from stackml.ui.labeling_pages import (
    build_project_page,
    build_review_queue,
    list_projects,
    span_segments,
    workspace_config,
)

router = APIRouter(include_in_schema=False, dependencies=[Depends(authenticated)])


def _error(request: Request, exc: StackmlError) -> Response:
    return error_page(request, exc, "Labeling")


@router.get("/labeling", response_class=HTMLResponse)
def projects_page(request: Request, store: Store = Depends(get_store)) -> Response:
    """Every label project with its progress."""
    return page_response(request, "labeling.html", rows=list_projects(store), active="labeling")


@router.get("/labeling/{name}", response_class=HTMLResponse)
def project_page(name: str, request: Request, store: Store = Depends(get_store)) -> Response:
    """A project: progress, classes, instructions, annotators and agreement."""
    try:
        page = build_project_page(store, name)
        role = role_of(store.metadata, name, request)
    except StackmlError as exc:
        return _error(request, exc)
    return page_response(request, "label_project.html", page=page, role=role, active="labeling")


@router.get("/labeling/{name}/annotate", response_class=HTMLResponse)
def annotate_page(
    name: str,
    request: Request,
    task: int | None = Query(default=None, ge=1),
    fix: int | None = Query(default=None, ge=1),
    store: Store = Depends(get_store),
) -> Response:
    """The annotator workspace (``?task=&fix=`` opens one annotation for a reviewer's fix)."""
    try:
        project = store.metadata.get_label_project(name)
        require(store.metadata, name, request, "reviewer" if fix else "annotator")
    except StackmlError as exc:
        return _error(request, exc)
    user = current_user(request)
    return page_response(
        request,
        "label_annotate.html",
        project=project,
        config_json=workspace_config(project),
        user=user.name if user else "",
        auth=bool(request.app.state.auth),
        task=task or "",
        fix=fix or "",
        active="labeling",
    )


@router.get("/labeling/{name}/review", response_class=HTMLResponse)
def review_page(name: str, request: Request, store: Store = Depends(get_store)) -> Response:
    """Items waiting for review, each annotator's answer side by side."""
    try:
        require(store.metadata, name, request, "reviewer")
        project, items = build_review_queue(store, name)
    except StackmlError as exc:
        return _error(request, exc)
    segments = {
        card.annotation.id: span_segments(project, item.task, dict(card.annotation.value))
        for item in items
        for card in item.cards
    }
    return page_response(
        request,
        "label_review.html",
        project=project,
        items=items,
        segments=segments,
        can_manage=role_at_least(role_of(store.metadata, name, request), "manager"),
        active="labeling",
    )


@router.post("/labeling/{name}/review/{annotation_id}", response_class=HTMLResponse)
def review_action(
    name: str,
    annotation_id: int,
    request: Request,
    decision: str = Form(...),
    comment: str = Form(""),
    csrf_token_field: str = Form("", alias="csrf_token"),
    reviewer: str = Form(""),
    store: Store = Depends(get_store),
) -> Response:
    """Accept or reject one annotation from the review queue."""
    check_csrf(request, csrf_token_field)
    try:
        require(store.metadata, name, request, "reviewer")
        target = store.metadata.get_annotation(annotation_id)
        if target.project != name:
            raise StackmlError(f"annotation {annotation_id} is not in project {name!r}")
        store.metadata.review_annotation(
            annotation_id, acting(request, reviewer or "reviewer"), decision, comment=comment
        )
    except StackmlError as exc:
        return _error(request, exc)
    return RedirectResponse(f"/labeling/{name}/review#reviewed-{annotation_id}", status_code=303)
