"""``RestJobStore``: the job queue of :class:`~stackml.store.jobs_base.JobStore` over HTTP.

Mixed into :class:`~stackml.store.rest.RestMetadataStore`; each method is one request to
``/api/v1/jobs``, ``/api/v1/workers`` or ``/api/v1/quotas``.
"""

from __future__ import annotations

import getpass
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any
from urllib.parse import quote

from stackml.errors import InvalidInput
from stackml.store._http import HttpTransport
from stackml.store.jobs_base import (
    Capacity,
    Job,
    JobSpec,
    JobState,
    JobStore,
    LogChunk,
    Quota,
    Worker,
)

__all__ = ["RestJobStore", "job_from_dict", "spec_to_dict", "worker_from_dict"]


def _seg(value: str) -> str:
    if not isinstance(value, str) or not value or value in {".", ".."}:
        raise InvalidInput(f"invalid id {value!r}")
    return quote(value, safe="")


def _os_user() -> str:
    try:
        return getpass.getuser() or "unknown"
    except (KeyError, OSError):
        return "unknown"


def spec_to_dict(spec: JobSpec) -> dict[str, Any]:
    """A job definition as plain JSON."""
    if not isinstance(spec, JobSpec):
        raise InvalidInput("a job needs a JobSpec")
    return asdict(spec)


def job_from_dict(d: Mapping[str, Any]) -> Job:
    """Rebuild a job snapshot from its JSON form."""
    return Job(
        id=d["id"],
        spec=JobSpec(**d["spec"]),
        user=d["user"],
        state=JobState(d["state"]),
        attempts=d["attempts"],
        created_at=d["created_at"],
        started_at=d["started_at"],
        finished_at=d["finished_at"],
        exit_code=d["exit_code"],
        error=d["error"],
        worker_id=d["worker_id"],
        gpu_ids=list(d["gpu_ids"]),
        lease_expires_at=d["lease_expires_at"],
        cancel_requested=d["cancel_requested"],
        log_hash=d["log_hash"],
        run_id=d["run_id"],
        executor=d["executor"],
    )


def worker_from_dict(d: Mapping[str, Any]) -> Worker:
    """Rebuild a worker snapshot from its JSON form."""
    return Worker(**{**d, "gpus": list(d["gpus"]), "used_gpus": list(d["used_gpus"])})


class RestJobStore(JobStore):
    """Job, worker and quota methods over ``self.http`` (set by the concrete store)."""

    http: HttpTransport

    # -- jobs -------------------------------------------------------------------------
    def submit_job(self, spec: JobSpec, *, user: str | None = None, executor: str = "local") -> Job:
        # With auth on, the server records the token's owner and ignores this name.
        body = {"spec": spec_to_dict(spec), "user": user or _os_user(), "executor": executor}
        return job_from_dict(self.http.call("POST", "/jobs", json=body))

    def get_job(self, job_id: str) -> Job:
        return job_from_dict(self.http.call("GET", f"/jobs/{_seg(job_id)}"))

    def list_jobs(
        self,
        *,
        state: JobState | str | None = None,
        user: str | None = None,
        project: str | None = None,
        limit: int = 100,
    ) -> list[Job]:
        params = {
            "state": state.value if isinstance(state, JobState) else state,
            "user": user,
            "project": project,
            "limit": limit,
        }
        return [job_from_dict(d) for d in self.http.call("GET", "/jobs", params=params)]

    def cancel_job(self, job_id: str) -> Job:
        return job_from_dict(self.http.call("POST", f"/jobs/{_seg(job_id)}/cancel"))

    def retry_job(self, job_id: str) -> Job:
        return job_from_dict(self.http.call("POST", f"/jobs/{_seg(job_id)}/retry"))

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
        body = {
            "state": state.value if isinstance(state, JobState) else state,
            "exit_code": exit_code,
            "error": error,
            "log_hash": log_hash,
            "run_id": run_id,
        }
        return job_from_dict(self.http.call("PATCH", f"/jobs/{_seg(job_id)}", json=body))

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
        body = {
            "name": name,
            "host": host,
            "cpus": cpus,
            "gpus": list(gpus),
            "memory_mb": memory_mb,
            "lease_s": lease_s,
            "user": user or _os_user(),
        }
        return worker_from_dict(self.http.call("POST", "/workers", json=body))

    def heartbeat(self, worker_id: str) -> list[str]:
        answer = self.http.call("POST", f"/workers/{_seg(worker_id)}/heartbeat")
        return list(answer["cancel"])

    def claim_jobs(self, worker_id: str, free: Capacity, *, limit: int = 1) -> list[Job]:
        body = {**asdict(free), "limit": limit}
        answer = self.http.call("POST", f"/workers/{_seg(worker_id)}/claim", json=body)
        return [job_from_dict(d) for d in answer]

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
        body = {
            "worker_id": worker_id,
            "exit_code": exit_code,
            "error": error,
            "log_hash": log_hash,
            "run_id": run_id,
            "cancelled": cancelled,
        }
        return job_from_dict(self.http.call("POST", f"/jobs/{_seg(job_id)}/finish", json=body))

    def stop_worker(self, worker_id: str) -> None:
        self.http.call("POST", f"/workers/{_seg(worker_id)}/stop")

    def list_workers(self, *, include_stopped: bool = False) -> list[Worker]:
        answer = self.http.call(
            "GET", "/workers", params={"include_stopped": str(include_stopped).lower()}
        )
        return [worker_from_dict(d) for d in answer]

    def reap_expired_jobs(self) -> int:
        return int(self.http.call("POST", "/jobs/reap")["count"])

    # -- logs -------------------------------------------------------------------------
    def append_job_log(self, job_id: str, text: str) -> None:
        if text:
            self.http.call("POST", f"/jobs/{_seg(job_id)}/logs", json={"text": text})

    def read_job_log(self, job_id: str, after: int = 0) -> LogChunk:
        answer = self.http.call("GET", f"/jobs/{_seg(job_id)}/logs", params={"after": after})
        return LogChunk(text=answer["text"], next_seq=answer["next_seq"])

    # -- quotas -----------------------------------------------------------------------
    def set_quota(self, quota: Quota) -> Quota:
        body = {"max_cpus": quota.max_cpus, "max_gpus": quota.max_gpus, "max_jobs": quota.max_jobs}
        answer = self.http.call("PUT", f"/quotas/{_seg(quota.user)}", json=body)
        return Quota(**answer)

    def list_quotas(self) -> list[Quota]:
        return [Quota(**d) for d in self.http.call("GET", "/quotas")]
