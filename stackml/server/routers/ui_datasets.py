"""The web UI's dataset pages: ``/datasets`` (list), ``/datasets/{name}`` (its latest version),
``/datasets/{name}/versions/{ref}`` (schema, statistics, preview, lineage, aliases) and
``/datasets/{name}/diff?a=&b=`` (files, rows, schema and statistical shifts)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from stackml.errors import StackmlError
from stackml.server.auth import authenticated
from stackml.server.deps import get_store
from stackml.server.routers.ui_session import error_page, page_response
from stackml.store import Store
from stackml.ui.datasets_pages import build_diff, build_version_page, list_datasets

router = APIRouter(include_in_schema=False, dependencies=[Depends(authenticated)])


def _error(request: Request, exc: StackmlError) -> Response:
    return error_page(request, exc, "Dataset")


@router.get("/datasets", response_class=HTMLResponse)
def datasets_page(request: Request, store: Store = Depends(get_store)) -> Response:
    """Every dataset with its version count and latest version."""
    return page_response(request, "datasets.html", datasets=list_datasets(store), active="datasets")


@router.get("/datasets/{name}", response_class=HTMLResponse)
def dataset_page(name: str, request: Request, store: Store = Depends(get_store)) -> Response:
    """A dataset: its latest version's page."""
    try:
        version = store.metadata.get_dataset_version(name, "latest")
    except StackmlError as exc:
        return _error(request, exc)
    return RedirectResponse(f"/datasets/{version.dataset}/versions/{version.id}", status_code=307)


@router.get("/datasets/{name}/versions/{ref}", response_class=HTMLResponse)
def version_page(
    name: str, ref: str, request: Request, store: Store = Depends(get_store)
) -> Response:
    """One version: schema, statistics with histograms, preview, lineage, alias history."""
    try:
        page = build_version_page(store, name, ref)
    except StackmlError as exc:
        return _error(request, exc)
    return page_response(request, "dataset_version.html", page=page, active="datasets")


@router.get("/datasets/{name}/diff", response_class=HTMLResponse)
def diff_page(
    name: str,
    request: Request,
    a: str = Query(...),
    b: str = Query(...),
    store: Store = Depends(get_store),
) -> Response:
    """What changed between two versions of a dataset."""
    try:
        diff = build_diff(store, name, a, b)
    except StackmlError as exc:
        return _error(request, exc)
    return page_response(request, "dataset_diff.html", diff=diff, dataset=name, active="datasets")
