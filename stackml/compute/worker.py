"""The worker loop behind ``stackml worker``: claim jobs that fit, run them, report back.

One thread does everything, in a loop: heartbeat (which extends the leases of its jobs and
answers which of them were cancelled), poll running jobs (exit, timeout), stream their new log
text into the store, finish them (full log as a blob, exit code, linked run), and claim more
queued jobs while capacity is free. A worker that dies simply stops heartbeating; its jobs'
leases expire and they are re-queued or failed by whoever looks next.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from stackml.compute.process import RUN_FILE_ENV, ProcessGroup, job_environment
from stackml.compute.resources import default_cpus
from stackml.errors import Conflict, NotFound, StackmlError, StoreUnavailable
from stackml.store import Store
from stackml.store.jobs_base import Capacity, Job

__all__ = ["JobWorker", "WorkerSettings", "job_argv"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerSettings:
    """Timing of a worker; short values make tests fast, defaults suit real clusters.

    Attributes:
        lease_s: How long a job stays ours without a heartbeat.
        heartbeat_s: Seconds between heartbeats (well under ``lease_s``).
        poll_s: Sleep between loop turns when nothing happened.
        claim_batch: Most jobs claimed in one transaction.
        log_flush_s: Seconds between live-log writes of one job.
    """

    lease_s: float = 30.0
    heartbeat_s: float = 5.0
    poll_s: float = 0.2
    claim_batch: int = 8
    log_flush_s: float = 1.0


def job_argv(job: Job) -> list[str]:
    """The argv a job runs: its command, or the entry point calling its Python target."""
    if job.spec.target is not None:
        return [
            sys.executable,
            "-m",
            "stackml.compute.entry",
            job.spec.target,
            json.dumps(job.spec.args),
        ]
    return list(job.spec.command)


def store_environment(store: Store) -> dict[str, str]:
    """Variables that point a job's own ``stackml.start_run`` at the worker's store.

    The worker's token is never passed on: a job talking to a server with auth on brings its
    own ``STACKML_TOKEN`` in its environment.
    """
    location = store.location
    env = {"STACKML_TRACKING_URI": str(location.root or location.metadata_url)}
    if location.blob_url and location.root is None:
        env["STACKML_ARTIFACT_URI"] = location.blob_url
    return env


@dataclass
class _Running:
    job: Job
    group: ProcessGroup
    started: float
    folder: Path
    timed_out: bool = False
    cancelled: bool = False
    last_flush: float = 0.0


class JobWorker:
    """Runs queued jobs of one store on this machine.

    Args:
        store: where the queue lives (SQL or a server).
        cpus: CPU cores offered (default: those this process may use).
        gpus: GPU device numbers offered; each job gets its own through ``CUDA_VISIBLE_DEVICES``.
        memory_mb: Memory offered in MiB; 0 means "not accounted".
        name: Shown in ``stackml`` listings (default ``host:pid``).
        settings: Lease and polling times.
        work_dir: Where job logs are kept while they run (default: a temporary folder).
    """

    def __init__(
        self,
        store: Store,
        *,
        cpus: float | None = None,
        gpus: list[str] | None = None,
        memory_mb: int = 0,
        name: str | None = None,
        settings: WorkerSettings | None = None,
        work_dir: Path | None = None,
    ) -> None:
        self.store = store
        self.cpus = default_cpus() if cpus is None else float(cpus)
        self.gpus = list(gpus or [])
        self.memory_mb = int(memory_mb)
        self.host = socket.gethostname()
        self.name = name or f"{self.host}:{os.getpid()}"
        self.settings = settings or WorkerSettings()
        self._own_dir = work_dir is None
        self.work_dir = Path(work_dir or tempfile.mkdtemp(prefix="stackml-worker-"))
        self.running: dict[str, _Running] = {}
        self.stop_event = threading.Event()
        self.completed = 0
        self.worker_id = self._register()
        self._last_beat = time.monotonic()

    def _register(self) -> str:
        worker = self.store.metadata.register_worker(
            name=self.name,
            host=self.host,
            cpus=self.cpus,
            gpus=self.gpus,
            memory_mb=self.memory_mb,
            lease_s=self.settings.lease_s,
        )
        logger.info("worker %s registered as %s", self.name, worker.id)
        return worker.id

    # -- capacity -----------------------------------------------------------------------
    def free(self) -> Capacity:
        """What is not reserved by running jobs."""
        used_gpus = {g for r in self.running.values() for g in r.job.gpu_ids}
        return Capacity(
            cpus=max(0.0, self.cpus - sum(r.job.spec.cpus for r in self.running.values())),
            gpus=[g for g in self.gpus if g not in used_gpus],
            memory_mb=max(
                0, self.memory_mb - sum(r.job.spec.memory_mb for r in self.running.values())
            ),
            memory_limited=self.memory_mb > 0,
        )

    # -- the loop -----------------------------------------------------------------------
    def run(self, *, until_idle: bool = False, max_jobs: int | None = None) -> int:
        """Work until :meth:`stop`, or until the queue is empty (``until_idle``), or after
        ``max_jobs`` jobs; answer how many jobs this call finished."""
        start_count = self.completed
        try:
            while not self.stop_event.is_set():
                started = self.completed - start_count + len(self.running)
                try:
                    busy = self.step(claim=max_jobs is None or started < max_jobs)
                except StoreUnavailable as exc:
                    # The database or server is briefly away: keep the jobs, try again. If it
                    # stays away past the lease, the jobs are handed on and we hear so then.
                    logger.warning("store unavailable, retrying: %s", exc)
                    self.stop_event.wait(min(1.0, self.settings.heartbeat_s))
                    continue
                if max_jobs is not None and self.completed - start_count >= max_jobs:
                    break
                if until_idle and not self.running and not busy:
                    break
                if not busy:
                    self.stop_event.wait(self.settings.poll_s)
        finally:
            self.shutdown()
        return self.completed - start_count

    def step(self, *, claim: bool = True) -> bool:
        """One turn of the loop; answers whether anything happened."""
        now = time.monotonic()
        if now - self._last_beat >= self.settings.heartbeat_s:
            self._heartbeat()
        busy = False
        for job_id in list(self.running):
            busy |= self._poll(self.running[job_id])
        if claim:
            busy |= self._claim()
        return busy

    def stop(self) -> None:
        """Ask :meth:`run` to return after the current turn (thread-safe)."""
        self.stop_event.set()

    def shutdown(self) -> None:
        """Kill running jobs and hand them back to the queue."""
        for entry in list(self.running.values()):
            entry.group.kill()
            entry.group.wait(timeout=5)
        self.running.clear()
        try:
            self.store.metadata.stop_worker(self.worker_id)
        except StackmlError as error:  # the store may be gone at exit; leases cover that
            logger.warning("could not deregister worker %s: %s", self.worker_id, error)
        if self._own_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    # -- pieces -------------------------------------------------------------------------
    def _heartbeat(self) -> None:
        self._last_beat = time.monotonic()
        try:
            cancelled = self.store.metadata.heartbeat(self.worker_id)
        except (Conflict, NotFound):
            # Declared lost (we stalled past our lease): our jobs were handed on, so stop them
            # here, and start over under a new identity.
            logger.warning("worker %s lost its lease; killing its jobs", self.worker_id)
            for entry in self.running.values():
                entry.group.kill()
                entry.group.wait(timeout=5)
            self.running.clear()
            self.worker_id = self._register()
            return
        for job_id in cancelled:
            target = self.running.get(job_id)
            if target is not None and not target.cancelled:
                target.cancelled = True
                target.group.terminate()

    def _claim(self) -> bool:
        free = self.free()
        if free.cpus <= 0 and self.cpus > 0:
            return False
        try:
            jobs = self.store.metadata.claim_jobs(
                self.worker_id, free, limit=self.settings.claim_batch
            )
        except (Conflict, NotFound):
            self._heartbeat()
            return False
        for job in jobs:
            self._start(job)
        return bool(jobs)

    def _start(self, job: Job) -> None:
        folder = self.work_dir / f"{job.id}-{job.attempts}"
        extra = {
            **store_environment(self.store),
            **job.spec.env,
            "STACKML_JOB_ID": job.id,
            "STACKML_JOB_ATTEMPT": str(job.attempts),
            RUN_FILE_ENV: str(folder / "run_id"),
            # Exclusive GPUs: an empty value hides every device from a CPU-only job.
            "CUDA_VISIBLE_DEVICES": ",".join(job.gpu_ids),
            "PYTHONUNBUFFERED": "1",
        }
        group = ProcessGroup(
            job_argv(job), job_environment(None, extra), folder, nprocs=job.spec.nprocs
        )
        try:
            group.start()
        except OSError as exc:
            self._report(job, exit_code=127, error=f"cannot start {job_argv(job)[0]!r}: {exc}")
            shutil.rmtree(folder, ignore_errors=True)
            return
        self.running[job.id] = _Running(job, group, time.monotonic(), folder)

    def _poll(self, entry: _Running) -> bool:
        job, group = entry.job, entry.group
        code = group.poll()
        now = time.monotonic()
        timeout = job.spec.timeout_s
        overdue = timeout is not None and now - entry.started > timeout
        if code is None and overdue and not entry.timed_out:
            entry.timed_out = True
            group.terminate()
        if code is None and now - entry.last_flush < self.settings.log_flush_s:
            return False
        text = group.read_new_output()
        if text:
            entry.last_flush = now
            try:
                self.store.metadata.append_job_log(job.id, text)
            except StackmlError as exc:
                logger.warning("could not stream the log of job %s: %s", job.id, exc)
        if code is None:
            return False
        error = None
        if entry.timed_out:
            error = f"timed out after {timeout:g} s; its process tree was killed"
        elif code != 0 and not entry.cancelled:
            error = f"exited with code {code}"
        full = group.full_log()
        log_hash = self.store.blobs.put_bytes(full) if full else None
        run_id = self._run_of(entry)
        self._report(
            job,
            exit_code=code,
            error=error,
            log_hash=log_hash,
            run_id=run_id,
            cancelled=entry.cancelled,
        )
        # Forgotten only once reported: if the store was away, the next turn reports again.
        del self.running[job.id]
        shutil.rmtree(entry.folder, ignore_errors=True)
        return True

    def _run_of(self, entry: _Running) -> str | None:
        run_file = entry.folder / "run_id"
        if run_file.is_file():
            return run_file.read_text(encoding="utf-8").strip() or None
        # A script that called stackml.start_run: its run carries the pid of the process.
        query = f"tags.`stackml.pid` = '{entry.group.pid}' and tags.`stackml.host` = '{self.host}'"
        try:
            found = self.store.metadata.search_runs(
                project=entry.job.spec.project, filter=query, limit=1
            ).runs
        except StackmlError:
            return None
        return found[0].id if found else None

    def _report(self, job: Job, **outcome: object) -> None:
        try:
            self.store.metadata.finish_job(job.id, self.worker_id, **outcome)  # type: ignore[arg-type]
        except Conflict as error:
            logger.warning("job %s was handed on before it finished here: %s", job.id, error)
        self.completed += 1


def install_signal_handlers(worker: JobWorker) -> None:
    """SIGTERM and SIGINT stop the worker cleanly (its jobs go back to the queue)."""

    def handle(_signum: int, _frame: object) -> None:
        worker.stop()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


def os_user() -> str:
    """The name of the user running this process."""
    try:
        return getpass.getuser() or "unknown"
    except (KeyError, OSError):
        return "unknown"
