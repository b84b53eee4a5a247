"""The ``Executor`` extension point: where jobs run.

Two implementations sit beside this base, one module each: :class:`~.local.LocalExecutor`
(the queue in the metadata store, drained by ``stackml worker`` processes) and
:class:`~.ray_executor.RayExecutor` (tasks on a Ray cluster). Both record jobs in the same
store, so ``stackml jobs ls|show|logs|cancel`` work the same whichever ran them.

Contract: :meth:`Executor.submit` validates the spec and returns the queued job at once;
:meth:`Executor.wait` blocks until the job is finished; cancelling goes through the store
(:meth:`~stackml.store.jobs_base.JobStore.cancel_job`), which every executor honours by
killing the job's whole process tree. Executors are thread-safe.
"""

from __future__ import annotations

import abc
import time

from stackml.errors import StoreUnavailable
from stackml.store import Store
from stackml.store.jobs_base import Job, JobSpec

__all__ = ["Executor", "wait_for_job"]


def wait_for_job(
    store: Store, job_id: str, *, timeout: float | None = None, poll_s: float = 0.1
) -> Job:
    """Poll ``job_id`` until it is finished; raises ``StoreUnavailable`` after ``timeout``."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        job = store.metadata.get_job(job_id)
        if job.state.is_terminal:
            return job
        if deadline is not None and time.monotonic() > deadline:
            raise StoreUnavailable(f"job {job_id} is still {job.state.value} after {timeout} s")
        time.sleep(poll_s)


class Executor(abc.ABC):
    """Runs jobs and records them in ``store``."""

    #: Stored with each job (``Job.executor``).
    name: str

    def __init__(self, store: Store) -> None:
        self.store = store

    @abc.abstractmethod
    def submit(self, spec: JobSpec) -> Job:
        """Validate and start (or queue) a job; answers its record at once."""

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        """Block until the job is finished and answer its final record."""
        return wait_for_job(self.store, job_id, timeout=timeout)

    def cancel(self, job_id: str) -> Job:
        """Cancel the job; a running one is killed with all its children."""
        return self.store.metadata.cancel_job(job_id)

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what the executor holds. The default does nothing."""
