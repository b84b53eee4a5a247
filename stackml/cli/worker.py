"""``stackml worker``: run queued jobs on this machine."""

from __future__ import annotations

import typer

from stackml.cli._console import stderr_console
from stackml.cli._store import opened_store


def register(app: typer.Typer) -> None:
    """Add the ``worker`` command to the root application."""
    app.command("worker")(worker)


def worker(
    ctx: typer.Context,
    cpus: float | None = typer.Option(None, "--cpus", min=0, help="CPU cores to offer."),
    gpus: str = typer.Option("", "--gpus", help="GPU devices to offer, e.g. '0,1'."),
    memory: str | None = typer.Option(None, "--memory", help="Memory to offer, e.g. 16G."),
    name: str | None = typer.Option(None, "--name", help="Worker name (default host:pid)."),
    lease: float = typer.Option(30.0, "--lease", min=0.5, help="Seconds a job stays ours."),
    heartbeat: float = typer.Option(5.0, "--heartbeat", min=0.05, help="Seconds between beats."),
    poll: float = typer.Option(0.2, "--poll", min=0.01, help="Seconds between queue checks."),
    until_idle: bool = typer.Option(False, "--until-idle", help="Exit when the queue is empty."),
    max_jobs: int | None = typer.Option(None, "--max-jobs", min=1, help="Exit after N jobs."),
) -> None:
    """Claim and run queued jobs that fit this machine's free capacity."""
    from stackml.compute.resources import parse_gpus, parse_memory
    from stackml.compute.worker import JobWorker, WorkerSettings, install_signal_handlers
    from stackml.errors import InvalidInput

    if heartbeat >= lease:
        raise InvalidInput("--heartbeat must be shorter than --lease")
    settings = WorkerSettings(lease_s=lease, heartbeat_s=heartbeat, poll_s=poll)
    with opened_store(ctx) as store:
        job_worker = JobWorker(
            store,
            cpus=cpus,
            gpus=parse_gpus(gpus),
            memory_mb=parse_memory(memory),
            name=name,
            settings=settings,
        )
        install_signal_handlers(job_worker)
        stderr_console().print(
            f"worker {job_worker.worker_id} ({job_worker.name}): {job_worker.cpus:g} cpus, "
            f"gpus [{','.join(job_worker.gpus)}], memory {job_worker.memory_mb or '-'} MiB"
        )
        done = job_worker.run(until_idle=until_idle, max_jobs=max_jobs)
    stderr_console().print(f"worker stopped after {done} jobs")
