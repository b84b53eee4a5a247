"""Web UI pages of the model registry: ``/models`` (list), ``/models/{name}`` (versions,
gates, alias history), ``/models/{name}/versions/{n}`` (lineage graph, signature, metrics,
aliases and their history, compression variants, downloads; ``n`` may be an alias) and
``.../download`` (the version's files as one verified zip)."""

from __future__ import annotations

import os
import tempfile
import zipfile

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.background import BackgroundTask

from stackml.errors import StackmlError
from stackml.server.auth import authenticated
from stackml.server.deps import get_store
from stackml.server.routers.ui_session import error_page, page_response
from stackml.store import Store
from stackml.ui.registry_pages import build_model_page, build_version_page, list_models

router = APIRouter(include_in_schema=False, dependencies=[Depends(authenticated)])


def _error(request: Request, exc: StackmlError) -> Response:
    return error_page(request, exc, "Model")


@router.get("/models", response_class=HTMLResponse)
def models_page(request: Request, store: Store = Depends(get_store)) -> Response:
    """Every registered model with its versions and aliases."""
    return page_response(request, "models.html", models=list_models(store), active="models")


@router.get("/models/{name}", response_class=HTMLResponse)
def model_page(name: str, request: Request, store: Store = Depends(get_store)) -> Response:
    """A registered model: versions, promotion gates and the alias audit trail."""
    try:
        page = build_model_page(store, name)
    except StackmlError as exc:
        return _error(request, exc)
    return page_response(request, "models_model.html", page=page, active="models")


@router.get("/models/{name}/versions/{ref}", response_class=HTMLResponse)
def version_page(
    name: str, ref: str, request: Request, store: Store = Depends(get_store)
) -> Response:
    """One version (by number or alias)."""
    try:
        page = build_version_page(store, name, ref)
    except StackmlError as exc:
        return _error(request, exc)
    return page_response(request, "models_version.html", page=page, active="models")


@router.get("/models/{name}/versions/{ref}/download", response_model=None)
def download_version(
    name: str, ref: str, request: Request, store: Store = Depends(get_store)
) -> Response:
    """Every file of a version in one zip, each verified against its recorded hash first."""
    from stackml.registry import get_version
    from stackml.registry.loading import download_version as copy_files

    handle, path = tempfile.mkstemp(prefix="stackml-model-", suffix=".zip")
    os.close(handle)
    try:
        version = get_version(f"{name}@{ref}", store=store)
        with tempfile.TemporaryDirectory(prefix="stackml-model-") as tmp:
            folder = copy_files(store, version, tmp)
            with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
                for file in sorted(p for p in folder.rglob("*") if p.is_file()):
                    archive.write(file, file.relative_to(folder).as_posix())
    except StackmlError as exc:
        os.unlink(path)
        return _error(request, exc)
    return FileResponse(
        path,
        media_type="application/zip",
        filename=f"{version.model}-v{version.version}.zip",
        background=BackgroundTask(os.unlink, path),
    )
