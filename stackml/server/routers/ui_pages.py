"""The web UI's pages under ``/``: projects, runs table, run page, artifacts and compare.

Each handler builds a view model from the store (``stackml.ui``) and renders a template.
Requests made by HTMX (``HX-Request``) get the fragment they swap in, not the whole page.
Store errors render as an HTML error page with the same status the API would answer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from stackml._internal.names import validate_relative_path
from stackml.errors import InvalidInput, StackmlError
from stackml.server.auth import authenticated
from stackml.server.blocking import run_blocking
from stackml.server.deps import get_store
from stackml.server.routers.ui_session import page_response
from stackml.server.streaming import blob_response
from stackml.store import Store
from stackml.ui.artifacts import build_preview, content_disposition
from stackml.ui.compare import build_comparison, parse_run_ids
from stackml.ui.run_page import build_run_page
from stackml.ui.runs_rows import render_rows
from stackml.ui.runs_table import ATTRIBUTE_COLUMNS, PAGE_SIZES, RunsQuery, build_runs_table
from stackml.ui.search import MAX_QUERY
from stackml.ui.search import search as search_everything

router = APIRouter(include_in_schema=False, dependencies=[Depends(authenticated)])

_TITLES = {400: "Bad request", 403: "Not allowed", 404: "Not found", 409: "Conflict"}


def _guarded(request: Request, build: Callable[[], Response]) -> Response:
    try:
        return build()
    except StackmlError as exc:
        status = exc.http_status if exc.http_status < 500 else 400
        return page_response(
            request,
            "error.html",
            status=status,
            status_code=status,
            title=_TITLES.get(status, "Something went wrong"),
            message=str(exc),
        )


def _path(path: str) -> str:
    try:
        return validate_relative_path(path)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc


@router.get("/", response_class=RedirectResponse)
def home() -> RedirectResponse:
    """The runs table is the home page."""
    return RedirectResponse("/runs", status_code=307)


@router.get("/projects", response_class=HTMLResponse)
def projects(request: Request, store: Store = Depends(get_store)) -> Response:
    """Every project with its experiment count."""
    meta = store.metadata
    rows = [(p, len(meta.list_experiments(p.name))) for p in meta.list_projects()]
    return page_response(request, "projects.html", projects=rows, active="projects")


@router.get("/runs", response_class=HTMLResponse)
async def runs_table(request: Request) -> Response:
    """The runs table; an HTMX request gets only the table region back.

    The store is taken from the application rather than through a dependency, ``col``
    (repeated, the chosen columns) straight from the query string (:class:`RunsQuery` checks
    and defaults every field), and the page is built by :func:`run_blocking`: inline when
    the server has nothing else to do, on the thread pool otherwise.
    """
    return await run_blocking(request, lambda: _runs_table(request))


def _runs_table(request: Request) -> Response:
    meta = get_store(request).metadata
    query = RunsQuery.from_params(request.query_params, request.query_params.getlist("col"))
    with meta.reading():  # the page, its scores and the project list: one snapshot
        table = build_runs_table(meta, query)
        projects = meta.list_projects()
    context: dict[str, Any] = {
        "table": table,
        "rows": render_rows(table),
        "projects": projects,
        "attribute_columns": ATTRIBUTE_COLUMNS,
        "page_sizes": PAGE_SIZES,
        "active": "runs",
    }
    if request.headers.get("hx-request") == "true":
        return page_response(request, "_runs_table.html", **context)
    return page_response(request, "runs.html", **context)


@router.get("/runs/{run_id}", response_class=HTMLResponse)
async def run_page(run_id: str, request: Request) -> Response:
    """A run: charts, params, tags, system information, artifacts and lineage."""
    store = get_store(request)
    return await run_blocking(
        request,
        lambda: _guarded(
            request,
            lambda: page_response(
                request, "run.html", page=build_run_page(store, run_id), active="runs"
            ),
        ),
    )


@router.get("/runs/{run_id}/artifacts/preview", response_class=HTMLResponse)
def artifact_preview(
    run_id: str, request: Request, path: str, store: Store = Depends(get_store)
) -> Response:
    """The preview pane of one artifact (a fragment; a full page without HTMX)."""

    def build() -> Response:
        artifact = store.metadata.get_artifact(run_id, _path(path))
        preview = build_preview(store.blobs, artifact)
        if request.headers.get("hx-request") == "true":
            return page_response(request, "_artifact_preview.html", preview=preview)
        page = build_run_page(store, run_id)
        return page_response(request, "artifact.html", page=page, preview=preview, active="runs")

    return _guarded(request, build)


@router.get("/runs/{run_id}/artifacts/raw")
def artifact_raw(run_id: str, path: str, store: Store = Depends(get_store)) -> Response:
    """An artifact's bytes: raster images inline, everything else as a download."""
    artifact = store.metadata.get_artifact(run_id, _path(path))
    response = blob_response(store.blobs, artifact.blob_hash, artifact.size, artifact.media_type)
    response.headers["Content-Disposition"] = content_disposition(
        artifact.path, artifact.media_type
    )
    return response


@router.get("/compare", response_class=HTMLResponse)
def compare(
    request: Request,
    runs: list[str] = Query(default_factory=list),
    store: Store = Depends(get_store),
) -> Response:
    """Overlay charts, param differences, parallel coordinates and a scatter plot."""

    def build() -> Response:
        ids = parse_run_ids(runs)
        if len(ids) < 2:
            raise InvalidInput("select at least two runs to compare")
        comparison = build_comparison(store.metadata, ids)
        return page_response(request, "compare.html", comparison=comparison, active="runs")

    return _guarded(request, build)


@router.get("/search", response_class=HTMLResponse)
def search(request: Request, q: str = "", store: Store = Depends(get_store)) -> Response:
    """Runs, datasets, jobs (and whatever else registered a search provider) matching the
    text, one section per kind."""
    sections = search_everything(store.metadata, q)
    return page_response(
        request, "search.html", sections=sections, search_query=q.strip()[:MAX_QUERY]
    )
