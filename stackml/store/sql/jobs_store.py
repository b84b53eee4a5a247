"""``SqlJobStore``: the job queue of :class:`~stackml.store.jobs_base.JobStore` in SQL.

Validates input, then runs one function of :mod:`.jobs` or :mod:`.scheduling` in one
transaction. Mixed into :class:`~stackml.store.sql.store.SqlMetadataStore`.
"""

from __future__ import annotations

import getpass
from typing import Any

from stackml.errors import InvalidInput
from stackml.store.jobs_base import (
    Capacity,
    Job,
    JobSpec,
    JobState,
    JobStore,
    LogChunk,
    Quota,
    Worker,
    check_spec,
    check_state,
)
from stackml.store.sql import inputs, jobs, scheduling
from stackml.store.sql.engine import Database

__all__ = ["SqlJobStore"]

EXECUTORS = frozenset({"local", "ray"})


def _os_user() -> str:
    try:
        return getpass.getuser() or "unknown"
    except (KeyError, OSError):
        return "unknown"


def _optional(value: Any, what: str, cast: type) -> Any:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise InvalidInput(f"{what} must be a non-negative number or null, not {value!r}")
    return cast(value)


def _gpu_ids(values: object) -> list[str]:
    if not isinstance(values, (list, tuple)) or not all(
        isinstance(v, str) and v.isdigit() and len(v) < 8 for v in values
    ):
        raise InvalidInput(
            f"GPU ids must be a list of device numbers such as ['0', '1']: {values!r}"
        )
    return list(values)


class SqlJobStore(JobStore):
    """Job, worker and quota methods over ``self._db`` (set by the concrete store)."""

    _db: Database

    def _reap_if_needed(self) -> None:
        if self._db.transact(scheduling.has_expired, write=False, what="check leases"):
            self._db.transact(scheduling.reap_expired, write=True, what="reap expired jobs")

    # -- jobs -------------------------------------------------------------------------
    def submit_job(self, spec: JobSpec, *, user: str | None = None, executor: str = "local") -> Job:
        checked = check_spec(spec)
        owner = inputs.label(user if user is not None else _os_user(), "user")
        if executor not in EXECUTORS:
            raise InvalidInput(f"unknown executor {executor!r}: use one of {sorted(EXECUTORS)}")
        return self._db.transact(
            lambda c: jobs.submit_job(c, checked, owner, executor), write=True, what="submit job"
        )

    def get_job(self, job_id: str) -> Job:
        job_id = inputs.identifier(job_id, "job id")
        self._reap_if_needed()
        return self._db.transact(lambda c: jobs.get_job(c, job_id), write=False, what="get job")

    def list_jobs(
        self,
        *,
        state: JobState | str | None = None,
        user: str | None = None,
        project: str | None = None,
        limit: int = 100,
    ) -> list[Job]:
        wanted = None if state is None else check_state(state)
        owner = None if user is None else inputs.label(user, "user")
        proj = None if project is None else inputs.name(project, "project name")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10_000:
            raise InvalidInput("limit must be an integer between 1 and 10000")
        self._reap_if_needed()
        return self._db.transact(
            lambda c: jobs.list_jobs(c, state=wanted, user=owner, project=proj, limit=limit),
            write=False,
            what="list jobs",
        )

    def cancel_job(self, job_id: str) -> Job:
        job_id = inputs.identifier(job_id, "job id")
        return self._db.transact(
            lambda c: jobs.cancel_job(c, job_id), write=True, what="cancel job"
        )

    def retry_job(self, job_id: str) -> Job:
        job_id = inputs.identifier(job_id, "job id")
        return self._db.transact(lambda c: jobs.retry_job(c, job_id), write=True, what="retry job")

    def update_job(
        self,
        job_id: str,
        *,
        state: JobState | str | None = None,
        exit_code: int | None = None,
        error: str | None = None,
        log_hash: str | None = None,
        run_id: str | None = None,
    ) -> Job:
        job_id = inputs.identifier(job_id, "job id")
        values: dict[str, Any] = {}
        if state is not None:
            values["state"] = check_state(state).value
        if exit_code is not None:
            if isinstance(exit_code, bool) or not isinstance(exit_code, int):
                raise InvalidInput("exit_code must be an integer")
            values["exit_code"] = exit_code
        if error is not None:
            values["error"] = inputs.label(error, "error", max_len=inputs.MAX_VALUE)
        if log_hash is not None:
            values["log_hash"] = inputs.blob_hash(log_hash)
        if run_id is not None:
            values["run_id"] = inputs.identifier(run_id)
        return self._db.transact(
            lambda c: jobs.update_job(c, job_id, values), write=True, what="update job"
        )

    # -- workers ----------------------------------------------------------------------
    def register_worker(
        self,
        *,
        name: str,
        host: str,
        cpus: float,
        gpus: list[str],
        memory_mb: int,
        lease_s: float,
        user: str | None = None,
    ) -> Worker:
        values = {
            "name": inputs.label(name, "worker name"),
            "host": inputs.label(host, "host"),
            "user": inputs.label(user if user is not None else _os_user(), "user"),
            "cpus": _optional(cpus, "cpus", float) or 0.0,
            "gpus": ",".join(_gpu_ids(gpus)),
            "memory_mb": _optional(memory_mb, "memory_mb", int) or 0,
            "lease_s": _optional(lease_s, "lease_s", float) or 30.0,
        }
        return self._db.transact(
            lambda c: scheduling.register_worker(c, values), write=True, what="register worker"
        )

    def heartbeat(self, worker_id: str) -> list[str]:
        worker_id = inputs.identifier(worker_id, "worker id")
        return self._db.transact(
            lambda c: scheduling.heartbeat(c, worker_id), write=True, what="heartbeat"
        )

    def claim_jobs(self, worker_id: str, free: Capacity, *, limit: int = 1) -> list[Job]:
        worker_id = inputs.identifier(worker_id, "worker id")
        if not isinstance(free, Capacity):
            raise InvalidInput("claim_jobs needs a Capacity")
        checked = Capacity(
            cpus=_optional(free.cpus, "free cpus", float) or 0.0,
            gpus=_gpu_ids(free.gpus),
            memory_mb=_optional(free.memory_mb, "free memory_mb", int) or 0,
            memory_limited=bool(free.memory_limited),
        )
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise InvalidInput("limit must be an integer between 1 and 1000")
        return self._db.transact(
            lambda c: scheduling.claim(c, worker_id, checked, limit), write=True, what="claim jobs"
        )

    def finish_job(
        self,
        job_id: str,
        worker_id: str,
        *,
        exit_code: int | None,
        error: str | None = None,
        log_hash: str | None = None,
        run_id: str | None = None,
        cancelled: bool = False,
    ) -> Job:
        job_id = inputs.identifier(job_id, "job id")
        worker_id = inputs.identifier(worker_id, "worker id")
        if exit_code is not None and (
            isinstance(exit_code, bool) or not isinstance(exit_code, int)
        ):
            raise InvalidInput("exit_code must be an integer or null")
        reason = None if error is None else inputs.label(error, "error", max_len=inputs.MAX_VALUE)
        digest = None if log_hash is None else inputs.blob_hash(log_hash)
        run = None if run_id is None else inputs.identifier(run_id)
        return self._db.transact(
            lambda c: scheduling.finish(
                c,
                job_id,
                worker_id,
                exit_code=exit_code,
                error=reason,
                log_hash=digest,
                run_id=run,
                cancelled=bool(cancelled),
            ),
            write=True,
            what="finish job",
        )

    def stop_worker(self, worker_id: str) -> None:
        worker_id = inputs.identifier(worker_id, "worker id")
        self._db.transact(
            lambda c: scheduling.stop_worker(c, worker_id), write=True, what="stop worker"
        )

    def list_workers(self, *, include_stopped: bool = False) -> list[Worker]:
        self._reap_if_needed()
        return self._db.transact(
            lambda c: scheduling.list_workers(c, bool(include_stopped)),
            write=False,
            what="list workers",
        )

    def reap_expired_jobs(self) -> int:
        return self._db.transact(scheduling.reap_expired, write=True, what="reap expired jobs")

    # -- logs -------------------------------------------------------------------------
    def append_job_log(self, job_id: str, text: str) -> None:
        job_id = inputs.identifier(job_id, "job id")
        if not isinstance(text, str):
            raise InvalidInput("log text must be a string")
        if text:
            text = text.replace("\x00", "\ufffd")  # PostgreSQL text cannot hold NUL
            self._db.transact(
                lambda c: jobs.append_log(c, job_id, text), write=True, what="append job log"
            )

    def read_job_log(self, job_id: str, after: int = 0) -> LogChunk:
        job_id = inputs.identifier(job_id, "job id")
        after = inputs.non_negative_int(after, "log position")
        return self._db.transact(
            lambda c: jobs.read_log(c, job_id, after), write=False, what="read job log"
        )

    # -- quotas -----------------------------------------------------------------------
    def set_quota(self, quota: Quota) -> Quota:
        if not isinstance(quota, Quota):
            raise InvalidInput("set_quota needs a Quota")
        checked = Quota(
            user=inputs.label(quota.user, "user"),
            max_cpus=_optional(quota.max_cpus, "max_cpus", float),
            max_gpus=_optional(quota.max_gpus, "max_gpus", int),
            max_jobs=_optional(quota.max_jobs, "max_jobs", int),
        )
        return self._db.transact(lambda c: jobs.set_quota(c, checked), write=True, what="set quota")

    def list_quotas(self) -> list[Quota]:
        return self._db.transact(jobs.list_quotas, write=False, what="list quotas")
