"""Jobs, workers and quotas: the compute part of the :class:`MetadataStore` interface.

The job queue lives in the metadata store so that workers on many machines can share it
(PostgreSQL) or one machine can run it with zero set-up (SQLite). The contract:

* :meth:`JobStore.claim_jobs` is one transaction: a queued job moves to ``running`` for exactly
  one worker (``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL, ``BEGIN IMMEDIATE`` on
  SQLite), only when it fits the worker's free capacity, in fair-share order: the user with
  the least running usage first, then higher priority, then older jobs. Per-user quotas cap
  what one user may run at once.
* A running job holds a lease that the worker's heartbeats extend. Once a lease has expired
  (the worker died), :meth:`JobStore.reap_expired_jobs` re-queues the job while retries are
  left and fails it otherwise; workers and readers call it, so no job stays ``running``
  forever.
* A finished job records its exit code, the blob hash of its full log and the run it produced.
  Log text is also appended in chunks while the job runs, so it can be followed live.

Validation of user input happens in the implementations; errors are :mod:`stackml.errors`.
"""

from __future__ import annotations

import abc
import json
import re
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from stackml._internal import names
from stackml.errors import InvalidInput


class JobState(str, Enum):
    """Lifecycle of a job."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


@dataclass(frozen=True)
class JobSpec:
    """What to run and what it needs: the definition shared by every executor and spec format.

    Exactly one of ``command`` (an argv list, never run through a shell) and ``target`` (a
    Python callable as ``"package.module:function"``, called with ``args`` as keyword
    arguments) is set.

    Attributes:
        name: A label for people (letters, digits, ``. _ -``).
        command: The argv list of a command job.
        target: Import path of a callable job.
        args: JSON keyword arguments of the callable.
        project: The project the job belongs to.
        cpus: CPU cores reserved (may be fractional).
        gpus: Whole GPUs reserved; they are given exclusively through ``CUDA_VISIBLE_DEVICES``.
        memory_mb: Memory reserved in MiB.
        env: Extra environment variables (names validated).
        priority: Higher runs first among one user's jobs.
        timeout_s: Wall time after which the job and all its children are killed.
        max_retries: Further attempts after a lost worker (and after a failure when
            ``retry_on_failure``).
        retry_on_failure: Also retry a non-zero exit or a timeout.
        nprocs: Processes of a distributed (DDP) job; the worker reserves ``cpus`` for all.
    """

    name: str
    command: list[str] = field(default_factory=list)
    target: str | None = None
    args: dict[str, Any] = field(default_factory=dict)
    project: str = "default"
    cpus: float = 1.0
    gpus: int = 0
    memory_mb: int = 0
    env: dict[str, str] = field(default_factory=dict)
    priority: int = 0
    timeout_s: float | None = None
    max_retries: int = 0
    retry_on_failure: bool = False
    nprocs: int = 1


@dataclass(frozen=True)
class Job:
    """A snapshot of a submitted job."""

    id: str
    spec: JobSpec
    user: str
    state: JobState
    attempts: int
    created_at: int
    started_at: int | None = None
    finished_at: int | None = None
    exit_code: int | None = None
    error: str | None = None
    worker_id: str | None = None
    gpu_ids: list[str] = field(default_factory=list)
    lease_expires_at: int | None = None
    cancel_requested: bool = False
    log_hash: str | None = None
    run_id: str | None = None
    executor: str = "local"

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def project(self) -> str:
        return self.spec.project


@dataclass(frozen=True)
class Worker:
    """A registered worker: its capacity, what it is using and when it last beat."""

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
    used_cpus: float = 0.0
    used_gpus: list[str] = field(default_factory=list)
    used_memory_mb: int = 0
    running_jobs: int = 0


@dataclass(frozen=True)
class Quota:
    """Most one user may run at once (``None``: no limit)."""

    user: str
    max_cpus: float | None = None
    max_gpus: int | None = None
    max_jobs: int | None = None


@dataclass(frozen=True)
class Capacity:
    """Free resources a worker offers to :meth:`JobStore.claim_jobs`."""

    cpus: float
    gpus: list[str] = field(default_factory=list)
    memory_mb: int = 0
    #: ``memory_mb == 0`` on a worker means "not accounted": any job's memory fits.
    memory_limited: bool = True


@dataclass(frozen=True)
class LogChunk:
    """Text a job wrote, in order; ``seq`` is the position to ask for next."""

    text: str
    next_seq: int


class JobStore(abc.ABC):
    """The job queue, workers and quotas (a mixin of :class:`MetadataStore`)."""

    # -- jobs -------------------------------------------------------------------------
    @abc.abstractmethod
    def submit_job(self, spec: JobSpec, *, user: str | None = None, executor: str = "local") -> Job:
        """Queue a job for ``user`` (default: the OS user). Raises ``InvalidInput``."""

    @abc.abstractmethod
    def get_job(self, job_id: str) -> Job:
        """A job by id (expired leases are reaped first). Raises ``NotFound``."""

    @abc.abstractmethod
    def list_jobs(
        self,
        *,
        state: JobState | str | None = None,
        user: str | None = None,
        project: str | None = None,
        limit: int = 100,
    ) -> list[Job]:
        """Jobs, newest first, optionally of one state, user or project."""

    @abc.abstractmethod
    def cancel_job(self, job_id: str) -> Job:
        """Cancel a job: a queued one at once, a running one by asking its worker to kill it.

        Cancelling a finished job is a ``Conflict``.
        """

    @abc.abstractmethod
    def retry_job(self, job_id: str) -> Job:
        """Queue a failed or cancelled job again. Raises ``Conflict`` for other states."""

    @abc.abstractmethod
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
        """Record progress of a job run by an external executor (e.g. Ray)."""

    # -- workers ----------------------------------------------------------------------
    @abc.abstractmethod
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
        """Register a worker and return its record (with a fresh id)."""

    @abc.abstractmethod
    def heartbeat(self, worker_id: str) -> list[str]:
        """Extend the worker's lease and its jobs' leases; answer the ids of its jobs that
        were asked to cancel. Raises ``NotFound`` for an unknown worker and ``Conflict`` for
        one that was declared lost (it must stop running its jobs)."""

    @abc.abstractmethod
    def claim_jobs(self, worker_id: str, free: Capacity, *, limit: int = 1) -> list[Job]:
        """Atomically move up to ``limit`` queued jobs that fit ``free`` to ``running`` for
        this worker, in fair-share order; assigned GPUs are in ``Job.gpu_ids``."""

    @abc.abstractmethod
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
        """Record the end of an attempt. A non-zero exit is retried per the job's policy.

        Raises ``Conflict`` when the worker no longer holds the job (its lease expired).
        """

    @abc.abstractmethod
    def stop_worker(self, worker_id: str) -> None:
        """Mark a worker stopped and put its running jobs back in the queue."""

    @abc.abstractmethod
    def list_workers(self, *, include_stopped: bool = False) -> list[Worker]:
        """Workers with their capacity and current usage."""

    @abc.abstractmethod
    def reap_expired_jobs(self) -> int:
        """Re-queue or fail running jobs whose lease expired; answer how many."""

    # -- logs -------------------------------------------------------------------------
    @abc.abstractmethod
    def append_job_log(self, job_id: str, text: str) -> None:
        """Append text to a job's live log."""

    @abc.abstractmethod
    def read_job_log(self, job_id: str, after: int = 0) -> LogChunk:
        """The live log text from position ``after`` on."""

    # -- quotas -----------------------------------------------------------------------
    @abc.abstractmethod
    def set_quota(self, quota: Quota) -> Quota:
        """Set (or, with every limit ``None``, clear) a user's quota."""

    @abc.abstractmethod
    def list_quotas(self) -> list[Quota]:
        """Every user quota."""


# -- validation shared by the stores and the executors ----------------------------------

_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_TARGET_RE = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
#: Variables the executor sets itself; a job may not override them.
RESERVED_ENV = frozenset({"CUDA_VISIBLE_DEVICES", "STACKML_JOB_ID", "STACKML_JOB_ATTEMPT"})
MAX_ARGV = 4096
MAX_TEXT = 65_535


def _number(value: object, what: str, *, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise InvalidInput(f"{what} must be a number, not {value!r}")
    if not low <= value <= high:
        raise InvalidInput(f"{what} must be between {low:g} and {high:g}, not {value!r}")
    return float(value)


def _integer(value: object, what: str, *, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f"{what} must be an integer between {low} and {high}, not {value!r}")
    return value


def check_env(env: object) -> dict[str, str]:
    """Validate environment variables: POSIX-style names, text values, no reserved names."""
    if env is None:
        return {}
    if not isinstance(env, dict):
        raise InvalidInput("env must be a mapping of variable name to value")
    checked: dict[str, str] = {}
    for name, value in env.items():
        if not isinstance(name, str) or not _ENV_NAME_RE.fullmatch(name):
            raise InvalidInput(
                f"invalid environment variable name {name!r}: use letters, digits and '_', "
                "not starting with a digit"
            )
        if name in RESERVED_ENV:
            raise InvalidInput(f"environment variable {name} is set by the executor itself")
        if not isinstance(value, str) or "\x00" in value or len(value) > MAX_TEXT:
            raise InvalidInput(f"environment variable {name} must be text without NUL")
        checked[name] = value
    return checked


def check_spec(spec: object) -> JobSpec:
    """Validate a job definition and answer it normalised. Raises ``InvalidInput``."""
    if not isinstance(spec, JobSpec):
        raise InvalidInput("a job needs a JobSpec")
    try:
        name = names.validate_name(spec.name, what="job name")
        project = names.validate_name(spec.project, what="project name")
    except names.InvalidName as error:
        raise InvalidInput(str(error)) from error
    command = spec.command
    if not isinstance(command, (list, tuple)) or not all(isinstance(a, str) for a in command):
        raise InvalidInput("command must be a list of strings (an argv list, never a shell string)")
    if len(command) > MAX_ARGV or any("\x00" in a or len(a) > MAX_TEXT for a in command):
        raise InvalidInput("command has too many or too long arguments, or a NUL character")
    if bool(command) == (spec.target is not None):
        raise InvalidInput(
            "give exactly one of command (an argv list) and target (module:function)"
        )
    if command and not command[0]:
        raise InvalidInput("the program (command[0]) must not be empty")
    if spec.target is not None and (
        not isinstance(spec.target, str)
        or len(spec.target) > 255
        or not _TARGET_RE.fullmatch(spec.target)
    ):
        raise InvalidInput(f"invalid target {spec.target!r}: use 'package.module:function'")
    if not isinstance(spec.args, dict):
        raise InvalidInput("args must be a mapping of keyword argument to JSON value")
    try:
        encoded = json.dumps(spec.args, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise InvalidInput(f"args must be plain JSON: {error}") from error
    if len(encoded) > MAX_TEXT:
        raise InvalidInput(f"args are larger than {MAX_TEXT} bytes of JSON")
    timeout = spec.timeout_s
    if timeout is not None:
        timeout = _number(timeout, "timeout_s", low=0.001, high=365 * 86400)
    return replace(
        spec,
        name=name,
        project=project,
        command=list(command),
        args=json.loads(encoded),
        cpus=_number(spec.cpus, "cpus", low=0, high=4096),
        gpus=_integer(spec.gpus, "gpus", low=0, high=1024),
        memory_mb=_integer(spec.memory_mb, "memory_mb", low=0, high=1 << 40),
        env=check_env(spec.env),
        priority=_integer(spec.priority, "priority", low=-1000, high=1000),
        timeout_s=timeout,
        max_retries=_integer(spec.max_retries, "max_retries", low=0, high=100),
        retry_on_failure=bool(spec.retry_on_failure),
        nprocs=_integer(spec.nprocs, "nprocs", low=1, high=1024),
    )


def check_state(value: object) -> JobState:
    """A job state from its name. Raises ``InvalidInput``."""
    try:
        return JobState(value)
    except ValueError as error:
        allowed = ", ".join(s.value for s in JobState)
        raise InvalidInput(f"invalid job state {value!r}: use one of {allowed}") from error
