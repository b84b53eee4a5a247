"""``LocalExecutor``: jobs go into the queue of the metadata store; workers run them.

Workers are ``stackml worker`` processes on one or many machines sharing the store
(PostgreSQL, or a ``stackml server``). :meth:`LocalExecutor.run_worker` drains the queue in
this process, which is how a laptop, a test or the quickstart runs jobs without a separate
worker.
"""

from __future__ import annotations

from stackml.compute.executor import Executor
from stackml.compute.worker import JobWorker, WorkerSettings
from stackml.store.jobs_base import Job, JobSpec

__all__ = ["LocalExecutor"]


class LocalExecutor(Executor):
    """Queue jobs in the store for ``stackml worker`` processes."""

    name = "local"

    def submit(self, spec: JobSpec) -> Job:
        return self.store.metadata.submit_job(spec, executor=self.name)

    def run_worker(
        self,
        *,
        cpus: float | None = None,
        gpus: list[str] | None = None,
        memory_mb: int = 0,
        settings: WorkerSettings | None = None,
        max_jobs: int | None = None,
    ) -> int:
        """Run queued jobs in this process until the queue is empty; answer how many ran."""
        worker = JobWorker(self.store, cpus=cpus, gpus=gpus, memory_mb=memory_mb, settings=settings)
        return worker.run(until_idle=True, max_jobs=max_jobs)
