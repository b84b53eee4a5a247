"""Request and response bodies of ``/api/v1/jobs``, ``/api/v1/workers`` and ``/api/v1/quotas``.

They mirror :mod:`stackml.store.jobs_base` field for field; the store validates values.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from pydantic import BaseModel, Field

from stackml.server.schemas import Body
from stackml.store.jobs_base import Job, JobSpec, Quota, Worker


class JobSpecBody(Body):
    name: str
    command: list[str] = Field(default_factory=list)
    target: str | None = None
    args: dict[str, Any] = Field(default_factory=dict)
    project: str = "default"
    cpus: float = 1.0
    gpus: int = 0
    memory_mb: int = 0
    env: dict[str, str] = Field(default_factory=dict)
    priority: int = 0
    timeout_s: float | None = None
    max_retries: int = 0
    retry_on_failure: bool = False
    nprocs: int = 1

    def to_spec(self) -> JobSpec:
        return JobSpec(**self.model_dump())


class JobIn(Body):
    spec: JobSpecBody
    #: Honoured only without auth (or from an administrator); otherwise the token's owner.
    user: str | None = None
    executor: str = "local"


class JobOut(BaseModel):
    id: str
    spec: JobSpecBody
    user: str
    state: str
    attempts: int
    created_at: int
    started_at: int | None
    finished_at: int | None
    exit_code: int | None
    error: str | None
    worker_id: str | None
    gpu_ids: list[str]
    lease_expires_at: int | None
    cancel_requested: bool
    log_hash: str | None
    run_id: str | None
    executor: str

    @classmethod
    def of(cls, job: Job) -> JobOut:
        data = asdict(job)
        data["state"] = job.state.value
        return cls(**data)


class JobUpdate(Body):
    state: str | None = None
    exit_code: int | None = None
    error: str | None = None
    log_hash: str | None = None
    run_id: str | None = None


class JobFinish(Body):
    worker_id: str
    exit_code: int | None = None
    error: str | None = None
    log_hash: str | None = None
    run_id: str | None = None
    cancelled: bool = False


class LogIn(Body):
    text: str = Field(max_length=1 << 20)


class LogOut(BaseModel):
    text: str
    next_seq: int


class WorkerIn(Body):
    name: str
    host: str
    cpus: float
    gpus: list[str] = Field(default_factory=list)
    memory_mb: int = 0
    lease_s: float = 30.0
    user: str | None = None


class WorkerOut(BaseModel):
    id: str
    name: str
    host: str
    user: str
    cpus: float
    gpus: list[str]
    memory_mb: int
    state: str
    started_at: int
    heartbeat_at: int
    lease_s: float
    used_cpus: float
    used_gpus: list[str]
    used_memory_mb: int
    running_jobs: int

    @classmethod
    def of(cls, worker: Worker) -> WorkerOut:
        return cls(**asdict(worker))


class ClaimIn(Body):
    cpus: float
    gpus: list[str] = Field(default_factory=list)
    memory_mb: int = 0
    memory_limited: bool = True
    limit: int = 1


class HeartbeatOut(BaseModel):
    cancel: list[str]


class Count(BaseModel):
    count: int


class QuotaIn(Body):
    max_cpus: float | None = None
    max_gpus: int | None = None
    max_jobs: int | None = None


class QuotaOut(BaseModel):
    user: str
    max_cpus: float | None
    max_gpus: int | None
    max_jobs: int | None

    @classmethod
    def of(cls, quota: Quota) -> QuotaOut:
        return cls(**asdict(quota))
