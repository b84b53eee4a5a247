"""The Python API of jobs: submit, inspect, follow, cancel and retry them.

Jobs go to the same store as runs (``STACKML_TRACKING_URI`` or the nearest ``.stackml``)::

    from stackml import compute

    job = compute.submit(["python", "train.py", "--lr", "3e-4"], cpus=2, gpus=1, memory="8G")
    job = compute.submit(target="mypkg.train:main", args={"lr": 3e-4}, timeout=3600)
    for text in compute.logs(job.id, follow=True):
        print(text, end="")
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from stackml.compute.executor import wait_for_job
from stackml.compute.resources import parse_memory
from stackml.errors import InvalidInput
from stackml.store import Store
from stackml.store.jobs_base import Job, JobSpec, JobState
from stackml.tracking.api import get_store

__all__ = [
    "cancel",
    "current_job_id",
    "get_job",
    "iter_logs",
    "list_jobs",
    "logs",
    "make_spec",
    "retry",
    "submit",
    "wait",
]


def make_spec(
    command: Sequence[str] | None = None,
    *,
    target: str | None = None,
    args: Mapping[str, Any] | None = None,
    name: str | None = None,
    project: str = "default",
    cpus: float = 1.0,
    gpus: int = 0,
    memory: str | int | None = None,
    env: Mapping[str, str] | None = None,
    priority: int = 0,
    timeout: float | None = None,
    max_retries: int = 0,
    retry_on_failure: bool = False,
    nprocs: int = 1,
) -> JobSpec:
    """A :class:`JobSpec` from friendly arguments (``memory="16G"``)."""
    if isinstance(command, str):
        raise InvalidInput(
            "command must be an argv list such as ['python', 'train.py'], never a shell string"
        )
    if name is None:
        base = target.rpartition(":")[2] if target else os.path.basename((command or ["job"])[0])
        name = "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in base).strip(".-_")
    return JobSpec(
        name=name or "job",
        command=list(command or []),
        target=target,
        args=dict(args or {}),
        project=project,
        cpus=cpus,
        gpus=gpus,
        memory_mb=parse_memory(memory),
        env=dict(env or {}),
        priority=priority,
        timeout_s=timeout,
        max_retries=max_retries,
        retry_on_failure=retry_on_failure,
        nprocs=nprocs,
    )


def _store(tracking_uri: str | None) -> Store:
    return get_store(tracking_uri)


def submit(
    command: Sequence[str] | None = None,
    *,
    tracking_uri: str | None = None,
    **options: Any,
) -> Job:
    """Queue a job for ``stackml worker`` processes; see :func:`make_spec` for the options."""
    return _store(tracking_uri).metadata.submit_job(make_spec(command, **options))


def get_job(job_id: str, *, tracking_uri: str | None = None) -> Job:
    """A job's current record."""
    return _store(tracking_uri).metadata.get_job(job_id)


def list_jobs(
    *,
    state: JobState | str | None = None,
    user: str | None = None,
    project: str | None = None,
    limit: int = 100,
    tracking_uri: str | None = None,
) -> list[Job]:
    """Jobs, newest first."""
    return _store(tracking_uri).metadata.list_jobs(
        state=state, user=user, project=project, limit=limit
    )


def cancel(job_id: str, *, tracking_uri: str | None = None) -> Job:
    """Cancel a job; a running one is killed with its whole process tree."""
    return _store(tracking_uri).metadata.cancel_job(job_id)


def retry(job_id: str, *, tracking_uri: str | None = None) -> Job:
    """Queue a failed or cancelled job again."""
    return _store(tracking_uri).metadata.retry_job(job_id)


def wait(job_id: str, *, timeout: float | None = None, tracking_uri: str | None = None) -> Job:
    """Block until the job is finished."""
    return wait_for_job(_store(tracking_uri), job_id, timeout=timeout)


def logs(
    job_id: str,
    *,
    follow: bool = False,
    poll_s: float = 0.5,
    tracking_uri: str | None = None,
) -> Iterator[str]:
    """A job's log text; with ``follow`` keep yielding new text until the job has finished.

    A finished job whose log is kept as a blob yields the full log (every rank of a
    distributed job); otherwise the live log is read.
    """
    return iter_logs(_store(tracking_uri), job_id, follow=follow, poll_s=poll_s)


def iter_logs(
    store: Store, job_id: str, *, follow: bool = False, poll_s: float = 0.5
) -> Iterator[str]:
    """:func:`logs` of a job in ``store``."""
    job = store.metadata.get_job(job_id)
    if job.state.is_terminal and job.log_hash:
        yield store.blobs.get_bytes(job.log_hash).decode("utf-8", errors="replace")
        return
    position = 0
    while True:
        chunk = store.metadata.read_job_log(job_id, position)
        if chunk.text:
            yield chunk.text
        position = chunk.next_seq
        if not follow:
            return
        if store.metadata.get_job(job_id).state.is_terminal:
            rest = store.metadata.read_job_log(job_id, position)
            if rest.text:
                yield rest.text
            return
        time.sleep(poll_s)


def current_job_id() -> str | None:
    """The id of the job this process runs in, or ``None`` outside a job."""
    return os.environ.get("STACKML_JOB_ID") or None
