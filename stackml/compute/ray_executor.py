"""``RayExecutor``: jobs as tasks on a Ray cluster, recorded in the same job records.

Each job becomes one Ray task reserving the job's ``num_cpus``/``num_gpus`` (and memory). The
task starts the job's process tree on whichever node Ray picks and yields its log text as it
comes, then its exit code: a streaming generator, so the driver writes logs and status into
the store while the job runs. Cancelling the job (``stackml jobs cancel``) cancels the task,
which kills the process tree; the task enforces the job's timeout itself.

Ray is optional (``pip install 'stackml[ray]'``) and imported only when this class is used.
Connect to a cluster with ``address="ray://head:10001"`` or ``"auto"``; without an address a
local Ray is started (pass ``init_options`` such as ``num_cpus``).
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from stackml.compute.executor import Executor
from stackml.compute.process import ProcessGroup, job_environment
from stackml.compute.worker import job_argv, store_environment
from stackml.errors import InvalidInput, StackmlError
from stackml.store import Store
from stackml.store.jobs_base import Job, JobSpec, JobState

__all__ = ["RayExecutor"]

logger = logging.getLogger(__name__)

#: Seconds between log messages a running task yields.
STREAM_INTERVAL_S = 0.2


def import_ray() -> Any:
    """The ``ray`` module, or a clear error naming the extra to install."""
    try:
        import ray
    except ImportError as error:
        raise InvalidInput("RayExecutor needs Ray: pip install 'stackml[ray]'") from error
    return ray


def run_job_task(
    argv: list[str], env: Mapping[str, str], nprocs: int, timeout_s: float | None
) -> Iterator[tuple[str, Any]]:
    """The body of the Ray task: run the process tree, yield ``("log", text)`` messages and
    finally ``("done", (exit_code, error, full_log))``."""
    folder = Path(tempfile.mkdtemp(prefix="stackml-ray-job-"))
    group = ProcessGroup(argv, job_environment(None, env), folder, nprocs=nprocs)
    try:
        try:
            group.start()
        except OSError as exc:
            yield ("done", (127, f"cannot start {argv[0]!r}: {exc}", b""))
            return
        yield ("started", group.pid)
        started = time.monotonic()
        timed_out = False
        while (code := group.poll()) is None:
            if timeout_s is not None and not timed_out and time.monotonic() - started > timeout_s:
                timed_out = True
                group.terminate()
            text = group.read_new_output()
            if text:
                yield ("log", text)
            time.sleep(STREAM_INTERVAL_S)
        text = group.read_new_output()
        if text:
            yield ("log", text)
        error = None
        if timed_out:
            error = f"timed out after {timeout_s:g} s; its process tree was killed"
        elif code != 0:
            error = f"exited with code {code}"
        yield ("done", (code, error, group.full_log()))
    finally:
        # Reached on cancellation too (the task is interrupted): nothing may outlive it.
        group.kill()
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


class RayExecutor(Executor):
    """Run jobs as Ray tasks and record them in ``store``.

    Args:
        store: where job records, logs and log blobs go.
        address: a Ray cluster (``ray://host:10001``, ``auto``); ``None`` starts or reuses a
            local Ray in this process.
        init_options: extra ``ray.init`` arguments (ignored when Ray is already initialised).
        cancel_poll_s: how often running jobs are checked for cancellation.
    """

    name = "ray"

    def __init__(
        self,
        store: Store,
        *,
        address: str | None = None,
        init_options: Mapping[str, Any] | None = None,
        cancel_poll_s: float = 0.5,
    ) -> None:
        super().__init__(store)
        self.ray = import_ray()
        if not self.ray.is_initialized():
            self.ray.init(address=address, **dict(init_options or {}))
        self._task = self.ray.remote(run_job_task)
        self._followers: dict[str, threading.Thread] = {}
        self._cancel_poll_s = cancel_poll_s

    def submit(self, spec: JobSpec) -> Job:
        job = self.store.metadata.submit_job(spec, executor=self.name)
        env = {
            **store_environment(self.store),
            **job.spec.env,
            "STACKML_JOB_ID": job.id,
            "STACKML_JOB_ATTEMPT": "1",
            "PYTHONUNBUFFERED": "1",
        }
        options: dict[str, Any] = {
            "num_cpus": job.spec.cpus,
            "num_gpus": job.spec.gpus,
            # Retries after a lost node; a failed exit is final, as with the local queue.
            "max_retries": job.spec.max_retries,
        }
        if job.spec.memory_mb:
            options["memory"] = job.spec.memory_mb * 1024 * 1024
        generator = self._task.options(**options).remote(
            job_argv(job), env, job.spec.nprocs, job.spec.timeout_s
        )
        follower = threading.Thread(
            target=self._follow, args=(job.id, generator), name=f"ray-job-{job.id}", daemon=True
        )
        self._followers[job.id] = follower
        follower.start()
        return job

    def _follow(self, job_id: str, generator: Any) -> None:
        meta = self.store.metadata
        stop = threading.Event()
        watcher = threading.Thread(
            target=self._watch_cancel, args=(job_id, generator, stop), daemon=True
        )
        watcher.start()
        try:
            for ref in generator:
                kind, payload = self.ray.get(ref)
                if kind == "started":
                    meta.update_job(job_id, state=JobState.RUNNING)
                elif kind == "log":
                    meta.append_job_log(job_id, payload)
                elif kind == "done":
                    code, error, full = payload
                    log_hash = self.store.blobs.put_bytes(full) if full else None
                    state = JobState.SUCCEEDED if code == 0 and error is None else JobState.FAILED
                    if meta.get_job(job_id).cancel_requested:
                        state = JobState.CANCELLED
                    meta.update_job(
                        job_id, state=state, exit_code=code, error=error, log_hash=log_hash
                    )
        except Exception as error:  # the task was cancelled or its node died
            cancelled = isinstance(error, self.ray.exceptions.TaskCancelledError)
            try:
                if not meta.get_job(job_id).state.is_terminal:
                    meta.update_job(
                        job_id,
                        state=JobState.CANCELLED if cancelled else JobState.FAILED,
                        error="cancelled" if cancelled else f"the Ray task failed: {error}",
                    )
            except StackmlError as store_error:
                logger.warning("could not record the end of job %s: %s", job_id, store_error)
        finally:
            stop.set()

    def _watch_cancel(self, job_id: str, generator: Any, stop: threading.Event) -> None:
        while not stop.wait(self._cancel_poll_s):
            try:
                job = self.store.metadata.get_job(job_id)
            except StackmlError:
                continue
            if job.cancel_requested or job.state is JobState.CANCELLED:
                self.ray.cancel(generator)
                return

    def join(self, timeout: float | None = None) -> None:
        """Wait until every submitted job's record is final."""
        for follower in list(self._followers.values()):
            follower.join(timeout)
