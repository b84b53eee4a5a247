"""Web UI pages of the pipelines capability: ``/pipelines`` (list), ``/pipelines/{name}``
(DAG, schedule, triggers, runs), ``/pipelines/runs/{run_id}`` (the DAG with each step's
status, cache hit and duration, logs, outputs and runs) and ``/pipelines/artifacts/{hash}``
(which runs wrote and read a step output)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from stackml.errors import StackmlError
from stackml.server.auth import authenticated
from stackml.server.deps import get_store
from stackml.server.routers.ui_session import error_page, page_response
from stackml.store import Store
from stackml.ui.pipelines_pages import (
    build_artifact_page,
    build_pipeline_page,
    build_run_page,
    list_pipelines,
)

router = APIRouter(include_in_schema=False, dependencies=[Depends(authenticated)])


def _error(request: Request, exc: StackmlError) -> Response:
    return error_page(request, exc, "Pipeline")


@router.get("/pipelines", response_class=HTMLResponse)
def pipelines_page(request: Request, store: Store = Depends(get_store)) -> Response:
    """Every pipeline with its last run, schedule and triggers."""
    rows = list_pipelines(store)
    return page_response(request, "pipelines.html", rows=rows, active="pipelines")


@router.get("/pipelines/runs/{run_id}", response_class=HTMLResponse)
def run_page(run_id: str, request: Request, store: Store = Depends(get_store)) -> Response:
    """One pipeline run: its DAG, steps, logs and links."""
    try:
        page = build_run_page(store, run_id)
    except StackmlError as exc:
        return _error(request, exc)
    return page_response(request, "pipelines_run.html", page=page, active="pipelines")


@router.get("/pipelines/artifacts/{digest}", response_class=HTMLResponse)
def artifact_page(digest: str, request: Request, store: Store = Depends(get_store)) -> Response:
    """The runs that wrote and read one step output."""
    try:
        page = build_artifact_page(store, digest)
    except StackmlError as exc:
        return _error(request, exc)
    return page_response(request, "pipelines_artifact.html", page=page, active="pipelines")


@router.get("/pipelines/{name}", response_class=HTMLResponse)
def pipeline_page(name: str, request: Request, store: Store = Depends(get_store)) -> Response:
    """One pipeline: its DAG, schedule, triggers and recent runs."""
    try:
        page = build_pipeline_page(store, name)
    except StackmlError as exc:
        return _error(request, exc)
    return page_response(request, "pipelines_pipeline.html", page=page, active="pipelines")
