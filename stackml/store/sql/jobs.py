"""Job rows: submit, read, cancel, retry, live logs and quotas, inside a store transaction.

The scheduling half (claims, leases, heartbeats, workers) is in :mod:`.scheduling`.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, cast

from sqlalchemy import Connection, Table, delete, func, select, update

from stackml._internal.timeutil import now_ms
from stackml.errors import Conflict, NotFound
from stackml.store.jobs_base import Job, JobSpec, JobState, LogChunk, Quota, Worker
from stackml.store.sql import models_compute
from stackml.store.sql.engine import dialect_insert

JOBS: Table = cast(Table, models_compute.JobRow.__table__)
WORKERS: Table = cast(Table, models_compute.WorkerRow.__table__)
LOGS: Table = cast(Table, models_compute.JobLogRow.__table__)
QUOTAS: Table = cast(Table, models_compute.QuotaRow.__table__)

#: Live log kept in the database per job; the full log is a blob once the job ends.
MAX_LIVE_LOG_CHARS = 8 * 1024 * 1024
_TRUNCATED = "\n[stackml: live log truncated; the full log is kept when the job ends]\n"


def split_ids(text: str | None) -> list[str]:
    """``"0,1"`` -> ``["0", "1"]``."""
    return [part for part in (text or "").split(",") if part]


def job(row: Any) -> Job:
    """The snapshot of a job row."""
    spec = JobSpec(
        name=row.name,
        command=list(row.command or []),
        target=row.target,
        args=dict(row.args or {}),
        project=row.project,
        cpus=float(row.cpus),
        gpus=int(row.gpus),
        memory_mb=int(row.memory_mb),
        env=dict(row.env or {}),
        priority=int(row.priority),
        timeout_s=row.timeout_s,
        max_retries=int(row.max_retries),
        retry_on_failure=bool(row.retry_on_failure),
        nprocs=int(row.nprocs),
    )
    return Job(
        id=row.id,
        spec=spec,
        user=row.user,
        state=JobState(row.state),
        attempts=int(row.attempts),
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        exit_code=row.exit_code,
        error=row.error,
        worker_id=row.worker_id,
        gpu_ids=split_ids(row.gpu_ids),
        lease_expires_at=row.lease_expires_at,
        cancel_requested=bool(row.cancel_requested),
        log_hash=row.log_hash,
        run_id=row.run_id,
        executor=row.executor,
    )


def worker(row: Any, usage: dict[str, Any] | None = None) -> Worker:
    """The snapshot of a worker row, with its current usage."""
    usage = usage or {}
    return Worker(
        id=row.id,
        name=row.name,
        host=row.host,
        user=row.user,
        cpus=float(row.cpus),
        gpus=split_ids(row.gpus),
        memory_mb=int(row.memory_mb),
        state=row.state,
        started_at=row.started_at,
        heartbeat_at=row.heartbeat_at,
        lease_s=float(row.lease_s),
        used_cpus=float(usage.get("cpus", 0.0)),
        used_gpus=list(usage.get("gpus", [])),
        used_memory_mb=int(usage.get("memory_mb", 0)),
        running_jobs=int(usage.get("jobs", 0)),
    )


def _time_ordered_id() -> str:
    """32 hex characters that sort by creation time (nanoseconds), then at random.

    Jobs submitted within the same millisecond keep their submission order when the
    scheduler breaks ties of ``created_at`` by id.
    """
    return f"{time.time_ns():016x}{uuid.uuid4().hex[:16]}"


def submit_job(conn: Connection, spec: JobSpec, user: str, executor: str) -> Job:
    job_id = _time_ordered_id()
    conn.execute(
        JOBS.insert().values(
            id=job_id,
            name=spec.name,
            project=spec.project,
            user=user,
            executor=executor,
            command=list(spec.command),
            target=spec.target,
            args=dict(spec.args),
            env=dict(spec.env),
            cpus=spec.cpus,
            gpus=spec.gpus,
            memory_mb=spec.memory_mb,
            nprocs=spec.nprocs,
            priority=spec.priority,
            timeout_s=spec.timeout_s,
            max_retries=spec.max_retries,
            retry_on_failure=spec.retry_on_failure,
            state=JobState.QUEUED.value,
            attempts=0,
            gpu_ids="",
            cancel_requested=False,
            log_seq=0,
            created_at=now_ms(),
        )
    )
    return get_job(conn, job_id)


def get_row(conn: Connection, job_id: str, *, lock: bool = False) -> Any:
    query = select(JOBS).where(JOBS.c.id == job_id)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise NotFound(f"job {job_id!r} does not exist")
    return row


def get_job(conn: Connection, job_id: str) -> Job:
    return job(get_row(conn, job_id))


def list_jobs(
    conn: Connection,
    *,
    state: JobState | None,
    user: str | None,
    project: str | None,
    limit: int,
) -> list[Job]:
    query = select(JOBS).order_by(JOBS.c.created_at.desc(), JOBS.c.id.desc()).limit(limit)
    if state is not None:
        query = query.where(JOBS.c.state == state.value)
    if user is not None:
        query = query.where(JOBS.c.user == user)
    if project is not None:
        query = query.where(JOBS.c.project == project)
    return [job(row) for row in conn.execute(query)]


def cancel_job(conn: Connection, job_id: str) -> Job:
    row = get_row(conn, job_id, lock=True)
    state = JobState(row.state)
    if state.is_terminal:
        raise Conflict(f"job {job_id} already {state.value}; nothing to cancel")
    if state is JobState.QUEUED:
        values: dict[str, Any] = {
            "state": JobState.CANCELLED.value,
            "finished_at": now_ms(),
            "error": "cancelled before it started",
        }
    else:
        # The worker holding it kills its process tree at its next heartbeat.
        values = {"cancel_requested": True}
    conn.execute(update(JOBS).where(JOBS.c.id == job_id).values(**values))
    return get_job(conn, job_id)


def retry_job(conn: Connection, job_id: str) -> Job:
    row = get_row(conn, job_id, lock=True)
    if row.state not in (JobState.FAILED.value, JobState.CANCELLED.value):
        raise Conflict(f"job {job_id} is {row.state}; only failed or cancelled jobs are retried")
    conn.execute(delete(LOGS).where(LOGS.c.job_id == job_id))
    conn.execute(
        update(JOBS)
        .where(JOBS.c.id == job_id)
        .values(
            state=JobState.QUEUED.value,
            attempts=0,
            exit_code=None,
            error=None,
            worker_id=None,
            gpu_ids="",
            lease_expires_at=None,
            cancel_requested=False,
            log_hash=None,
            log_seq=0,
            run_id=None,
            started_at=None,
            finished_at=None,
        )
    )
    return get_job(conn, job_id)


def update_job(conn: Connection, job_id: str, values: dict[str, Any]) -> Job:
    row = get_row(conn, job_id, lock=True)
    if row.executor == "local":
        # Their workers report through claims, leases and finish_job; a free-form update
        # could leave a job "running" with no lease to expire.
        raise Conflict(f"job {job_id} runs on the local queue; only its worker updates it")
    new_state = values.get("state")
    if new_state is not None:
        if JobState(row.state).is_terminal and new_state != row.state:
            raise Conflict(f"job {job_id} already {row.state}")
        if new_state == JobState.RUNNING.value and row.started_at is None:
            values = {**values, "started_at": now_ms(), "attempts": row.attempts + 1}
        if JobState(new_state).is_terminal:
            values = {**values, "finished_at": now_ms()}
    conn.execute(update(JOBS).where(JOBS.c.id == job_id).values(**values))
    return get_job(conn, job_id)


def append_log(conn: Connection, job_id: str, text: str) -> None:
    row = get_row(conn, job_id, lock=True)
    seq = int(row.log_seq)
    if seq >= MAX_LIVE_LOG_CHARS:
        return
    if seq + len(text) > MAX_LIVE_LOG_CHARS:
        text = text[: MAX_LIVE_LOG_CHARS - seq] + _TRUNCATED
    seq += len(text)
    conn.execute(LOGS.insert().values(job_id=job_id, seq=seq, text=text))
    conn.execute(update(JOBS).where(JOBS.c.id == job_id).values(log_seq=seq))


def read_log(conn: Connection, job_id: str, after: int) -> LogChunk:
    row = get_row(conn, job_id)
    chunks = conn.execute(
        select(LOGS.c.text).where(LOGS.c.job_id == job_id, LOGS.c.seq > after).order_by(LOGS.c.seq)
    ).scalars()
    text = "".join(chunks)
    return LogChunk(text=text, next_seq=max(int(row.log_seq), after))


def set_quota(conn: Connection, quota: Quota) -> Quota:
    conn.execute(delete(QUOTAS).where(QUOTAS.c.user == quota.user))
    if (quota.max_cpus, quota.max_gpus, quota.max_jobs) != (None, None, None):
        conn.execute(
            dialect_insert(conn, QUOTAS).values(
                user=quota.user,
                max_cpus=quota.max_cpus,
                max_gpus=quota.max_gpus,
                max_jobs=quota.max_jobs,
            )
        )
    return quota


def list_quotas(conn: Connection) -> list[Quota]:
    rows = conn.execute(select(QUOTAS).order_by(QUOTAS.c.user))
    return [Quota(r.user, r.max_cpus, r.max_gpus, r.max_jobs) for r in rows]


def running_usage(conn: Connection) -> dict[str, dict[str, float]]:
    """Per user: reserved CPUs, GPUs and number of running jobs."""
    rows = conn.execute(
        select(JOBS.c.user, func.sum(JOBS.c.cpus), func.sum(JOBS.c.gpus), func.count())
        .where(JOBS.c.state == JobState.RUNNING.value)
        .group_by(JOBS.c.user)
    )
    return {
        r[0]: {"cpus": float(r[1] or 0), "gpus": float(r[2] or 0), "jobs": float(r[3])}
        for r in rows
    }


def referenced_blobs(conn: Connection) -> list[str]:
    """Hashes of the job logs kept as blobs (so ``stackml gc`` keeps them)."""
    rows = conn.execute(select(JOBS.c.log_hash).where(JOBS.c.log_hash.is_not(None)).distinct())
    return [str(h) for h in rows.scalars()]
