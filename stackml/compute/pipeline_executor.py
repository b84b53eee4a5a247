"""The ``compute`` executor of pipeline steps: each step is a job of the compute queue.

A step becomes an argv job (``python -m stackml.pipelines.worker --task-json ...``) with the
step's resources (``cpus``, ``gpus``, ``memory``) and timeout, so ``stackml worker``
processes on any machine sharing the store run it, with their GPU assignment, leases and
cancellation. The worker stores the step's result as artifact ``pipeline/result.json`` of
the step's run; a job that ends without one (killed, lost, timed out) is a failed or killed
step and nothing of it is cached.

When no worker has claimed a step's job after :attr:`ComputeStepExecutor.inline_after_s`,
this process drains the queue itself (a laptop or a test needs no separate worker).

The ``ray`` executor (:class:`RayStepExecutor`) runs the same jobs as Ray tasks through
:class:`~stackml.compute.ray_executor.RayExecutor`, reserving the step's ``cpus``/``gpus``/
``memory`` on the cluster: the Ray this process is connected to, else the one ``RAY_ADDRESS``
names, else a local Ray it starts. Every Ray node must reach the store.

Importing this module registers the executors under the names ``compute`` and ``ray``.
"""

from __future__ import annotations

import json
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from stackml.compute.api import make_spec
from stackml.compute.local import LocalExecutor
from stackml.errors import NotFound
from stackml.pipelines.execution import StepOutcome, StepTask
from stackml.pipelines.executors import Executor, register_executor, worker_env
from stackml.pipelines.worker import RESULT_ARTIFACT
from stackml.store.jobs_base import Job, JobSpec, JobState

if TYPE_CHECKING:
    from stackml.pipelines.definition import Step
    from stackml.store import Store

__all__ = ["ComputeStepExecutor", "RayStepExecutor"]


class ComputeStepExecutor(Executor):
    """Steps as compute jobs (see the module docstring)."""

    name = "compute"
    #: Seconds a job may wait unclaimed before this process runs it itself (``None``: never).
    inline_after_s: float | None = 2.0
    poll_s = 0.1

    def __init__(self, store: Store, max_parallel: int = 4) -> None:
        super().__init__(store, max_parallel)
        self._pool = ThreadPoolExecutor(self.max_parallel, thread_name_prefix="stackml-compute")

    def submit(self, task: StepTask, step: Step) -> Future[StepOutcome]:
        return self._pool.submit(self._run, task)

    def _run(self, task: StepTask) -> StepOutcome:
        resources = dict(task.resources)
        env = worker_env(task)
        spec = make_spec(
            [
                sys.executable,
                "-m",
                "stackml.pipelines.worker",
                "--task-json",
                json.dumps(task.to_json()),
            ],
            name=f"{task.pipeline}.{task.step}"[:120],
            cpus=float(resources.get("cpus", 1.0)),
            gpus=int(resources.get("gpus", 0)),
            memory=resources.get("memory"),
            env={"PYTHONPATH": env["PYTHONPATH"]},
            timeout=task.timeout,
        )
        job = self._start(spec)
        job = self._wait(job)
        return self._outcome(task, job)

    def _start(self, spec: JobSpec) -> Job:
        return LocalExecutor(self.store).submit(spec)

    def _wait(self, job: Job) -> Job:
        queued_since = time.monotonic()
        while True:
            job = self.store.metadata.get_job(job.id)
            if job.state.is_terminal:
                return job
            if (
                self.inline_after_s is not None
                and job.state is JobState.QUEUED
                and time.monotonic() - queued_since > self.inline_after_s
            ):
                LocalExecutor(self.store).run_worker(max_jobs=1)
                queued_since = time.monotonic()
                continue
            time.sleep(self.poll_s)

    def _outcome(self, task: StepTask, job: Job) -> StepOutcome:
        log = ""
        if job.log_hash:
            log = self.store.blobs.get_bytes(job.log_hash).decode(errors="replace")
        if job.state is JobState.CANCELLED:
            return StepOutcome("killed", (), log, job.error or "job cancelled")
        try:
            artifact = self.store.metadata.get_artifact(task.run_id, RESULT_ARTIFACT)
        except NotFound:
            kind = (
                "killed"
                if (job.exit_code or 0) < 0 or "timed out" in (job.error or "")
                else "failed"
            )
            return StepOutcome(kind, (), log, job.error or f"job {job.id} left no result")
        result = StepOutcome.from_json(json.loads(self.store.blobs.get_bytes(artifact.blob_hash)))
        return StepOutcome(result.status, result.outputs, log, result.error)

    def close(self) -> None:
        self._pool.shutdown(wait=True)


class RayStepExecutor(ComputeStepExecutor):
    """Steps as compute jobs run by Ray tasks (see the module docstring)."""

    name = "ray"
    inline_after_s = None  # Ray schedules the job; this process never runs it itself

    def __init__(self, store: Store, max_parallel: int = 4) -> None:
        from stackml.compute.ray_executor import RayExecutor

        super().__init__(store, max_parallel)
        self._ray = RayExecutor(store)

    def _start(self, spec: JobSpec) -> Job:
        return self._ray.submit(spec)

    def close(self) -> None:
        super().close()
        self._ray.join(timeout=30)


register_executor(ComputeStepExecutor.name, ComputeStepExecutor)
register_executor(RayStepExecutor.name, RayStepExecutor)
