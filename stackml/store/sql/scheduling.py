"""Workers, leases and claims: the scheduling half of the job queue.

Claims run in one write transaction. On PostgreSQL the candidate queued rows are locked with
``FOR UPDATE SKIP LOCKED`` so that workers claiming at the same moment take different jobs
instead of waiting on each other; on SQLite ``BEGIN IMMEDIATE`` serializes claims. Either way
the final ``UPDATE ... WHERE state = 'queued'`` guards against a double claim.

Fair share: among the queued jobs that fit, the job of the user with the least running usage
(reserved CPUs plus GPUs) goes first, then higher priority, then older. Usage is updated as
jobs are picked, so one claim of many jobs interleaves users too. Per-user quotas skip jobs
that would take a user past their limit.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Connection, select, update

from stackml._internal.timeutil import now_ms
from stackml.errors import Conflict, NotFound
from stackml.store.jobs_base import Capacity, Job, JobState, Quota, Worker
from stackml.store.sql import jobs
from stackml.store.sql.jobs import JOBS, QUOTAS, WORKERS

#: Queued jobs examined per claim; big jobs that do not fit do not block smaller ones.
CANDIDATES = 256
_EPS = 1e-9
RUNNING = JobState.RUNNING.value
QUEUED = JobState.QUEUED.value


def register_worker(conn: Connection, values: dict[str, Any]) -> Worker:
    worker_id = uuid.uuid4().hex
    now = now_ms()
    conn.execute(
        WORKERS.insert().values(
            id=worker_id, state="active", started_at=now, heartbeat_at=now, **values
        )
    )
    return get_worker(conn, worker_id)


def get_worker(conn: Connection, worker_id: str) -> Worker:
    row = conn.execute(select(WORKERS).where(WORKERS.c.id == worker_id)).first()
    if row is None:
        raise NotFound(f"worker {worker_id!r} does not exist")
    return jobs.worker(row, _usage_by_worker(conn).get(worker_id))


def _usage_by_worker(conn: Connection) -> dict[str, dict[str, Any]]:
    usage: dict[str, dict[str, Any]] = {}
    rows = conn.execute(
        select(JOBS.c.worker_id, JOBS.c.cpus, JOBS.c.gpu_ids, JOBS.c.memory_mb).where(
            JOBS.c.state == RUNNING, JOBS.c.worker_id.is_not(None)
        )
    )
    for row in rows:
        entry = usage.setdefault(
            row.worker_id, {"cpus": 0.0, "gpus": [], "memory_mb": 0, "jobs": 0}
        )
        entry["cpus"] += float(row.cpus)
        entry["gpus"] += jobs.split_ids(row.gpu_ids)
        entry["memory_mb"] += int(row.memory_mb)
        entry["jobs"] += 1
    return usage


def list_workers(conn: Connection, include_stopped: bool) -> list[Worker]:
    query = select(WORKERS).order_by(WORKERS.c.started_at, WORKERS.c.id)
    if not include_stopped:
        query = query.where(WORKERS.c.state == "active")
    usage = _usage_by_worker(conn)
    return [jobs.worker(row, usage.get(row.id)) for row in conn.execute(query)]


def _active_worker(conn: Connection, worker_id: str) -> Any:
    row = conn.execute(select(WORKERS).where(WORKERS.c.id == worker_id)).first()
    if row is None:
        raise NotFound(f"worker {worker_id!r} does not exist")
    if row.state != "active":
        raise Conflict(
            f"worker {worker_id} was declared {row.state} (its lease expired); "
            "its jobs were handed on: register again"
        )
    return row


def heartbeat(conn: Connection, worker_id: str) -> list[str]:
    row = _active_worker(conn, worker_id)
    now = now_ms()
    conn.execute(update(WORKERS).where(WORKERS.c.id == worker_id).values(heartbeat_at=now))
    conn.execute(
        update(JOBS)
        .where(JOBS.c.worker_id == worker_id, JOBS.c.state == RUNNING)
        .values(lease_expires_at=now + int(row.lease_s * 1000))
    )
    cancelled = conn.execute(
        select(JOBS.c.id).where(
            JOBS.c.worker_id == worker_id, JOBS.c.state == RUNNING, JOBS.c.cancel_requested
        )
    ).scalars()
    return list(cancelled)


def has_expired(conn: Connection) -> bool:
    """A cheap read: is any running local job's lease, or any worker's heartbeat, overdue?"""
    now = now_ms()
    found = conn.execute(
        select(JOBS.c.id).where(JOBS.c.state == RUNNING, JOBS.c.lease_expires_at < now).limit(1)
    ).first()
    return found is not None


def reap_expired(conn: Connection) -> int:
    """Re-queue (retries left) or fail running jobs whose lease expired."""
    now = now_ms()
    query = select(JOBS).where(JOBS.c.state == RUNNING, JOBS.c.lease_expires_at < now)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    count = 0
    lost_workers: set[str] = set()
    for row in conn.execute(query).all():
        count += 1
        if row.worker_id:
            lost_workers.add(row.worker_id)
        reason = f"worker {row.worker_id} stopped sending heartbeats (lease expired)"
        if row.cancel_requested:
            values: dict[str, Any] = {"state": JobState.CANCELLED.value, "finished_at": now}
        elif row.attempts <= row.max_retries:
            values = {"state": QUEUED, "started_at": None}
        else:
            values = {"state": JobState.FAILED.value, "finished_at": now}
        conn.execute(
            update(JOBS)
            .where(JOBS.c.id == row.id)
            .values(worker_id=None, gpu_ids="", lease_expires_at=None, error=reason, **values)
        )
    # A worker that let its jobs' leases lapse is lost; it must register again.
    stale = conn.execute(
        select(WORKERS.c.id, WORKERS.c.heartbeat_at, WORKERS.c.lease_s).where(
            WORKERS.c.state == "active"
        )
    ).all()
    for worker_id, beat, lease_s in stale:
        if worker_id in lost_workers or beat + int(lease_s * 1000) < now:
            conn.execute(update(WORKERS).where(WORKERS.c.id == worker_id).values(state="lost"))
    return count


def _fits(row: Any, free: Capacity, cpus: float, gpus: int, memory: int) -> bool:
    return (
        row.cpus <= cpus + _EPS
        and row.gpus <= gpus
        and (not free.memory_limited or row.memory_mb <= memory)
    )


def _within_quota(row: Any, used: dict[str, float], quota: Quota | None) -> bool:
    if quota is None:
        return True
    return not (
        (quota.max_cpus is not None and used["cpus"] + row.cpus > quota.max_cpus + _EPS)
        or (quota.max_gpus is not None and used["gpus"] + row.gpus > quota.max_gpus)
        or (quota.max_jobs is not None and used["jobs"] + 1 > quota.max_jobs)
    )


def claim(conn: Connection, worker_id: str, free: Capacity, limit: int) -> list[Job]:
    worker_row = _active_worker(conn, worker_id)
    if has_expired(conn):
        reap_expired(conn)
    query = (
        select(JOBS)
        .where(JOBS.c.state == QUEUED, JOBS.c.executor == "local")
        .order_by(JOBS.c.priority.desc(), JOBS.c.created_at, JOBS.c.id)
        .limit(CANDIDATES)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    candidates = list(conn.execute(query))
    if not candidates:
        return []
    usage = jobs.running_usage(conn)
    quotas = {
        r.user: Quota(r.user, r.max_cpus, r.max_gpus, r.max_jobs)
        for r in conn.execute(select(QUOTAS))
    }
    cpus, gpus, memory = free.cpus, list(free.gpus), free.memory_mb
    now = now_ms()
    lease_ms = int(worker_row.lease_s * 1000)
    claimed: list[str] = []
    while len(claimed) < limit and candidates:
        best_index, best_key = -1, None
        for index, row in enumerate(candidates):
            used = usage.setdefault(row.user, {"cpus": 0.0, "gpus": 0.0, "jobs": 0.0})
            if not _fits(row, free, cpus, len(gpus), memory):
                continue
            if not _within_quota(row, used, quotas.get(row.user)):
                continue
            # Candidates come ordered by priority and age, so the first one per usage wins.
            key = used["cpus"] + used["gpus"]
            if best_key is None or key < best_key:
                best_index, best_key = index, key
        if best_index < 0:
            break
        row = candidates.pop(best_index)
        assigned, gpus = gpus[: row.gpus], gpus[row.gpus :]
        done = conn.execute(
            update(JOBS)
            .where(JOBS.c.id == row.id, JOBS.c.state == QUEUED)
            .values(
                state=RUNNING,
                worker_id=worker_id,
                attempts=row.attempts + 1,
                started_at=now,
                lease_expires_at=now + lease_ms,
                gpu_ids=",".join(assigned),
                error=None,
                exit_code=None,
            )
            .returning(JOBS.c.id)
        ).first()
        if done is None:  # taken meanwhile (only possible without row locks)
            gpus = assigned + gpus
            continue
        claimed.append(row.id)
        cpus -= row.cpus
        memory -= row.memory_mb
        used = usage[row.user]
        used["cpus"] += row.cpus
        used["gpus"] += row.gpus
        used["jobs"] += 1
    return [jobs.get_job(conn, job_id) for job_id in claimed]


def finish(
    conn: Connection,
    job_id: str,
    worker_id: str,
    *,
    exit_code: int | None,
    error: str | None,
    log_hash: str | None,
    run_id: str | None,
    cancelled: bool,
) -> Job:
    row = jobs.get_row(conn, job_id, lock=True)
    if row.state != RUNNING or row.worker_id != worker_id:
        raise Conflict(
            f"worker {worker_id} no longer holds job {job_id} (it is {row.state}); "
            "its lease expired and the job was handed on"
        )
    now = now_ms()
    values: dict[str, Any] = {
        "exit_code": exit_code,
        "error": error,
        "log_hash": log_hash,
        "worker_id": None,
        "gpu_ids": "",
        "lease_expires_at": None,
        "finished_at": now,
    }
    if run_id is not None:
        values["run_id"] = run_id
    if cancelled or row.cancel_requested:
        values["state"] = JobState.CANCELLED.value
    elif exit_code == 0 and error is None:
        values["state"] = JobState.SUCCEEDED.value
    elif row.retry_on_failure and row.attempts <= row.max_retries:
        values.update(state=QUEUED, finished_at=None, started_at=None)
    else:
        values["state"] = JobState.FAILED.value
    conn.execute(update(JOBS).where(JOBS.c.id == job_id).values(**values))
    return jobs.get_job(conn, job_id)


def stop_worker(conn: Connection, worker_id: str) -> None:
    conn.execute(update(WORKERS).where(WORKERS.c.id == worker_id).values(state="stopped"))
    conn.execute(
        update(JOBS)
        .where(JOBS.c.worker_id == worker_id, JOBS.c.state == RUNNING)
        .values(
            state=QUEUED,
            # A clean shutdown is not a failed attempt.
            attempts=JOBS.c.attempts - 1,
            worker_id=None,
            gpu_ids="",
            lease_expires_at=None,
            started_at=None,
            error="its worker stopped; queued again",
        )
    )
