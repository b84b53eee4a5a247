"""The web UI's compute pages: ``/jobs`` (queue, running, history), ``/jobs/{id}`` with its
live log, and ``/workers`` (capacity, usage, heartbeat).

People other than administrators see only their own jobs, as in the API.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from stackml.errors import Forbidden, StackmlError
from stackml.server.auth import authenticated, current_user
from stackml.server.deps import get_store
from stackml.server.routers.ui_session import error_page, page_response
from stackml.store import Store
from stackml.ui.jobs_pages import build_job_page, build_jobs_view, build_workers_view

router = APIRouter(include_in_schema=False, dependencies=[Depends(authenticated)])


def _visible_user(request: Request) -> str | None:
    caller = current_user(request)
    return None if caller is None or caller.is_admin else caller.name


def _error(request: Request, exc: StackmlError) -> Response:
    return error_page(request, exc, "Job")


@router.get("/jobs", response_class=HTMLResponse)
def jobs_page(request: Request, store: Store = Depends(get_store)) -> Response:
    """The queue, running jobs with their resources, and history; refreshed by HTMX."""
    view = build_jobs_view(store.metadata, _visible_user(request))
    if request.headers.get("hx-request") == "true":
        return page_response(request, "_jobs_region.html", view=view)
    return page_response(request, "jobs.html", view=view, active="jobs")


def _check_owner(request: Request, owner: str) -> None:
    user = _visible_user(request)
    if user is not None and user != owner:
        raise Forbidden("this job belongs to another user")


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(job_id: str, request: Request, store: Store = Depends(get_store)) -> Response:
    """One job: definition, state, worker, run and its live log."""
    try:
        page = build_job_page(store.metadata, job_id)
        _check_owner(request, page.job.user)
    except StackmlError as exc:
        return _error(request, exc)
    return page_response(request, "job.html", page=page, active="jobs")


@router.get("/jobs/{job_id}/log", response_class=HTMLResponse)
def job_log(
    job_id: str,
    request: Request,
    after: int = Query(default=0, ge=0),
    store: Store = Depends(get_store),
) -> Response:
    """New log text after position ``after`` (a fragment the job page appends)."""
    try:
        job = store.metadata.get_job(job_id)
        _check_owner(request, job.user)
        chunk = store.metadata.read_job_log(job_id, after)
    except StackmlError as exc:
        return _error(request, exc)
    return page_response(
        request, "_job_log.html", chunk=chunk, job_id=job_id, live=not job.state.is_terminal
    )


@router.get("/workers", response_class=HTMLResponse)
def workers_page(request: Request, store: Store = Depends(get_store)) -> Response:
    """Every worker with its capacity, usage and last heartbeat."""
    return page_response(
        request, "workers.html", view=build_workers_view(store.metadata), active="workers"
    )
