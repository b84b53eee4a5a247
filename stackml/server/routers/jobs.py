"""``/api/v1/jobs``, ``/api/v1/workers``, ``/api/v1/quotas``: the job queue over HTTP.

With auth on, every route needs a token. Jobs belong to the token's owner; people read,
cancel and retry only their own jobs unless they are administrators. Workers run other
people's code, so registering one, claiming and finishing jobs are for administrators (run
workers with an administrator's service token).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request

from stackml.errors import Forbidden
from stackml.server.auth import admin, authenticated, current_user
from stackml.server.deps import get_metadata
from stackml.server.routers._common import API_PREFIX, ERROR_RESPONSES
from stackml.server.schemas_jobs import (
    ClaimIn,
    Count,
    HeartbeatOut,
    JobFinish,
    JobIn,
    JobOut,
    JobUpdate,
    LogIn,
    LogOut,
    QuotaIn,
    QuotaOut,
    WorkerIn,
    WorkerOut,
)
from stackml.store.base import MetadataStore
from stackml.store.jobs_base import Capacity, Job, Quota

router = APIRouter(prefix=API_PREFIX, tags=["jobs"], responses=ERROR_RESPONSES)

_AUTH = [Depends(authenticated)]
_ADMIN = [Depends(admin)]


def _owned(request: Request, store: MetadataStore, job_id: str) -> Job:
    """The job, if the caller may see it (its owner or an administrator)."""
    job = store.get_job(job_id)
    caller = current_user(request)
    if caller is not None and not caller.is_admin and caller.name != job.user:
        raise Forbidden(f"job {job_id} belongs to another user")
    return job


@router.post("/jobs", response_model=JobOut, status_code=201, dependencies=_AUTH)
def submit_job(
    body: JobIn, request: Request, store: MetadataStore = Depends(get_metadata)
) -> JobOut:
    """Queue a job; with auth on it belongs to the token's owner."""
    caller = current_user(request)
    user = body.user
    if caller is not None and not (caller.is_admin and user):
        user = caller.name
    job = store.submit_job(body.spec.to_spec(), user=user, executor=body.executor)
    return JobOut.of(job)


@router.get("/jobs", response_model=list[JobOut], dependencies=_AUTH)
def list_jobs(
    request: Request,
    state: str | None = None,
    user: str | None = None,
    project: str | None = None,
    limit: int = Query(default=100, ge=1, le=10_000),
    store: MetadataStore = Depends(get_metadata),
) -> list[JobOut]:
    """Jobs, newest first; people other than administrators see only their own."""
    caller = current_user(request)
    if caller is not None and not caller.is_admin:
        if user is not None and user != caller.name:
            raise Forbidden("only administrators may list other users' jobs")
        user = caller.name
    found = store.list_jobs(state=state, user=user, project=project, limit=limit)
    return [JobOut.of(j) for j in found]


@router.post("/jobs/reap", response_model=Count, dependencies=_ADMIN)
def reap_jobs(store: MetadataStore = Depends(get_metadata)) -> Count:
    """Re-queue or fail running jobs whose worker stopped sending heartbeats."""
    return Count(count=store.reap_expired_jobs())


@router.get("/jobs/{job_id}", response_model=JobOut, dependencies=_AUTH)
def get_job(job_id: str, request: Request, store: MetadataStore = Depends(get_metadata)) -> JobOut:
    """One job."""
    return JobOut.of(_owned(request, store, job_id))


@router.patch("/jobs/{job_id}", response_model=JobOut, dependencies=_AUTH)
def update_job(
    job_id: str, body: JobUpdate, request: Request, store: MetadataStore = Depends(get_metadata)
) -> JobOut:
    """Record progress reported by an external executor (Ray)."""
    _owned(request, store, job_id)
    job = store.update_job(
        job_id,
        state=body.state,
        exit_code=body.exit_code,
        error=body.error,
        log_hash=body.log_hash,
        run_id=body.run_id,
    )
    return JobOut.of(job)


@router.post("/jobs/{job_id}/cancel", response_model=JobOut, dependencies=_AUTH)
def cancel_job(
    job_id: str, request: Request, store: MetadataStore = Depends(get_metadata)
) -> JobOut:
    """Cancel a job; a running one is killed with its whole process tree."""
    _owned(request, store, job_id)
    return JobOut.of(store.cancel_job(job_id))


@router.post("/jobs/{job_id}/retry", response_model=JobOut, dependencies=_AUTH)
def retry_job(
    job_id: str, request: Request, store: MetadataStore = Depends(get_metadata)
) -> JobOut:
    """Queue a failed or cancelled job again."""
    _owned(request, store, job_id)
    return JobOut.of(store.retry_job(job_id))


@router.get("/jobs/{job_id}/logs", response_model=LogOut, dependencies=_AUTH)
def read_logs(
    job_id: str,
    request: Request,
    after: int = Query(default=0, ge=0),
    store: MetadataStore = Depends(get_metadata),
) -> LogOut:
    """The live log from position ``after`` on; pass ``next_seq`` back to follow it."""
    _owned(request, store, job_id)
    chunk = store.read_job_log(job_id, after)
    return LogOut(text=chunk.text, next_seq=chunk.next_seq)


@router.post("/jobs/{job_id}/logs", response_model=Count, dependencies=_AUTH)
def append_logs(
    job_id: str, body: LogIn, request: Request, store: MetadataStore = Depends(get_metadata)
) -> Count:
    """Append to a job's live log (its worker or executor)."""
    _owned(request, store, job_id)
    store.append_job_log(job_id, body.text)
    return Count(count=len(body.text))


@router.post("/jobs/{job_id}/finish", response_model=JobOut, dependencies=_ADMIN)
def finish_job(
    job_id: str, body: JobFinish, store: MetadataStore = Depends(get_metadata)
) -> JobOut:
    """Record the end of an attempt (workers only)."""
    job = store.finish_job(
        job_id,
        body.worker_id,
        exit_code=body.exit_code,
        error=body.error,
        log_hash=body.log_hash,
        run_id=body.run_id,
        cancelled=body.cancelled,
    )
    return JobOut.of(job)


@router.post("/workers", response_model=WorkerOut, status_code=201, dependencies=_ADMIN)
def register_worker(
    body: WorkerIn, request: Request, store: MetadataStore = Depends(get_metadata)
) -> WorkerOut:
    """Register a worker (administrators: a worker runs everyone's jobs)."""
    caller = current_user(request)
    worker = store.register_worker(
        name=body.name,
        host=body.host,
        cpus=body.cpus,
        gpus=body.gpus,
        memory_mb=body.memory_mb,
        lease_s=body.lease_s,
        user=caller.name if caller is not None else body.user,
    )
    return WorkerOut.of(worker)


@router.get("/workers", response_model=list[WorkerOut], dependencies=_AUTH)
def list_workers(
    include_stopped: bool = False, store: MetadataStore = Depends(get_metadata)
) -> list[WorkerOut]:
    """Workers with their capacity, usage and last heartbeat."""
    return [WorkerOut.of(w) for w in store.list_workers(include_stopped=include_stopped)]


@router.post("/workers/{worker_id}/heartbeat", response_model=HeartbeatOut, dependencies=_ADMIN)
def heartbeat(worker_id: str, store: MetadataStore = Depends(get_metadata)) -> HeartbeatOut:
    """Extend a worker's leases; answers the jobs it must cancel."""
    return HeartbeatOut(cancel=store.heartbeat(worker_id))


@router.post("/workers/{worker_id}/claim", response_model=list[JobOut], dependencies=_ADMIN)
def claim_jobs(
    worker_id: str, body: ClaimIn, store: MetadataStore = Depends(get_metadata)
) -> list[JobOut]:
    """Claim queued jobs that fit the worker's free capacity."""
    free = Capacity(
        cpus=body.cpus, gpus=body.gpus, memory_mb=body.memory_mb, memory_limited=body.memory_limited
    )
    return [JobOut.of(j) for j in store.claim_jobs(worker_id, free, limit=body.limit)]


@router.post("/workers/{worker_id}/stop", response_model=Count, dependencies=_ADMIN)
def stop_worker(worker_id: str, store: MetadataStore = Depends(get_metadata)) -> Count:
    """Mark a worker stopped and queue its running jobs again."""
    store.stop_worker(worker_id)
    return Count(count=0)


@router.get("/quotas", response_model=list[QuotaOut], dependencies=_AUTH)
def list_quotas(store: MetadataStore = Depends(get_metadata)) -> list[QuotaOut]:
    """Per-user limits on what runs at once."""
    return [QuotaOut.of(q) for q in store.list_quotas()]


@router.put("/quotas/{user}", response_model=QuotaOut, dependencies=_ADMIN)
def set_quota(user: str, body: QuotaIn, store: MetadataStore = Depends(get_metadata)) -> QuotaOut:
    """Set or clear a user's quota."""
    quota = Quota(user=user, max_cpus=body.max_cpus, max_gpus=body.max_gpus, max_jobs=body.max_jobs)
    return QuotaOut.of(store.set_quota(quota))
