"""``stackml jobs``: submit, list, inspect, follow, cancel and retry jobs."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import typer

from stackml.cli._console import format_time, stdout_console
from stackml.cli._store import opened_store

if TYPE_CHECKING:
    from stackml.store.jobs_base import Job, JobSpec

jobs_app = typer.Typer(help="Submit and manage jobs run by `stackml worker`.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the ``jobs`` group to the root application."""
    app.add_typer(jobs_app, name="jobs")


def _env(pairs: list[str]) -> dict[str, str]:
    from stackml.errors import InvalidInput

    env: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise InvalidInput(f"--env takes NAME=VALUE, not {pair!r}")
        env[name] = value
    return env


def _spec(
    command: list[str],
    *,
    target: str | None,
    args: str | None,
    name: str | None,
    project: str,
    cpus: float,
    gpus: int,
    memory: str | None,
    env: list[str],
    priority: int,
    timeout: float | None,
    retries: int,
    retry_on_failure: bool,
    nprocs: int,
) -> JobSpec:
    from stackml.compute.api import make_spec
    from stackml.errors import InvalidInput

    try:
        kwargs = json.loads(args) if args else {}
    except json.JSONDecodeError as error:
        raise InvalidInput(f"--args must be a JSON object: {error}") from error
    return make_spec(
        command or None,
        target=target,
        args=kwargs,
        name=name,
        project=project,
        cpus=cpus,
        gpus=gpus,
        memory=memory,
        env=_env(env),
        priority=priority,
        timeout=timeout,
        max_retries=retries,
        retry_on_failure=retry_on_failure,
        nprocs=nprocs,
    )


_COMMAND = typer.Argument(None, help="The command and its arguments (after --), never a shell.")
_TARGET = typer.Option(None, "--target", help="Run a Python callable 'package.module:function'.")
_ARGS = typer.Option(None, "--args", help="JSON object of keyword arguments for --target.")
_NAME = typer.Option(None, "--name", help="Job name (default: the program's name).")
_PROJECT = typer.Option("default", "--project", "-p", help="Project of the job.")
_CPUS = typer.Option(1.0, "--cpus", min=0, help="CPU cores to reserve.")
_GPUS = typer.Option(0, "--gpus", min=0, help="GPUs to reserve (given exclusively).")
_MEMORY = typer.Option(None, "--memory", help="Memory to reserve, e.g. 512M or 16G.")
_ENV = typer.Option([], "--env", "-e", help="NAME=VALUE environment variable; repeatable.")
_PRIORITY = typer.Option(0, "--priority", help="Higher runs first among your jobs.")
_TIMEOUT = typer.Option(None, "--timeout", min=0, help="Seconds before the job is killed.")
_RETRIES = typer.Option(0, "--retries", min=0, help="Attempts after a lost worker.")
_RETRY_FAIL = typer.Option(False, "--retry-on-failure", help="Also retry non-zero exits.")
_NPROCS = typer.Option(1, "--nprocs", min=1, help="DDP processes (torchrun-style env).")


@jobs_app.command(
    "submit", context_settings={"allow_interspersed_args": False}, no_args_is_help=True
)
def submit(
    ctx: typer.Context,
    command: list[str] | None = _COMMAND,
    target: str | None = _TARGET,
    args: str | None = _ARGS,
    name: str | None = _NAME,
    project: str = _PROJECT,
    cpus: float = _CPUS,
    gpus: int = _GPUS,
    memory: str | None = _MEMORY,
    env: list[str] = _ENV,
    priority: int = _PRIORITY,
    timeout: float | None = _TIMEOUT,
    retries: int = _RETRIES,
    retry_on_failure: bool = _RETRY_FAIL,
    nprocs: int = _NPROCS,
    executor: str = typer.Option(
        "local", "--executor", help="'local' (the queue) or 'ray' (waits for the job)."
    ),
    ray_address: str | None = typer.Option(None, "--ray-address", help="Ray cluster address."),
    wait: bool = typer.Option(False, "--wait", "-w", help="Follow the log until it finishes."),
) -> None:
    """Queue a job: `stackml jobs submit --cpus 2 -- python train.py --lr 0.1`."""
    spec = _spec(
        command or [],
        target=target,
        args=args,
        name=name,
        project=project,
        cpus=cpus,
        gpus=gpus,
        memory=memory,
        env=env,
        priority=priority,
        timeout=timeout,
        retries=retries,
        retry_on_failure=retry_on_failure,
        nprocs=nprocs,
    )
    with opened_store(ctx) as store:
        if executor == "ray":
            from stackml.compute.ray_executor import RayExecutor

            ray_executor = RayExecutor(store, address=ray_address)
            job = ray_executor.submit(spec)
            typer.echo(job.id)
            final = ray_executor.wait(job.id)
            ray_executor.join(timeout=10)
            _follow(store, job.id)
            raise typer.Exit(0 if final.state.value == "succeeded" else 1)
        if executor != "local":
            from stackml.errors import InvalidInput

            raise InvalidInput(f"unknown executor {executor!r}: use 'local' or 'ray'")
        job = store.metadata.submit_job(spec)
        typer.echo(job.id)
        if wait:
            _follow(store, job.id, follow=True)
            final = store.metadata.get_job(job.id)
            raise typer.Exit(0 if final.state.value == "succeeded" else 1)


@jobs_app.command("spec")
def spec_command(
    command: list[str] | None = _COMMAND,
    fmt: str = typer.Option("k8s", "--format", help="'k8s' (batch/v1 Job YAML) or 'slurm'."),
    image: str = typer.Option("python:3.11-slim", "--image", help="Container image (k8s)."),
    namespace: str = typer.Option("default", "--namespace", help="Kubernetes namespace."),
    partition: str | None = typer.Option(None, "--partition", help="SLURM partition."),
    target: str | None = _TARGET,
    args: str | None = _ARGS,
    name: str | None = _NAME,
    project: str = _PROJECT,
    cpus: float = _CPUS,
    gpus: int = _GPUS,
    memory: str | None = _MEMORY,
    env: list[str] = _ENV,
    timeout: float | None = _TIMEOUT,
    retries: int = _RETRIES,
    nprocs: int = _NPROCS,
) -> None:
    """Print a Kubernetes Job manifest or a SLURM sbatch script for a job definition."""
    from stackml.compute.specs import kubernetes_yaml, slurm_script
    from stackml.errors import InvalidInput

    spec = _spec(
        command or [],
        target=target,
        args=args,
        name=name,
        project=project,
        cpus=cpus,
        gpus=gpus,
        memory=memory,
        env=env,
        priority=0,
        timeout=timeout,
        retries=retries,
        retry_on_failure=False,
        nprocs=nprocs,
    )
    if fmt == "k8s":
        typer.echo(kubernetes_yaml(spec, image=image, namespace=namespace), nl=False)
    elif fmt == "slurm":
        typer.echo(slurm_script(spec, partition=partition), nl=False)
    else:
        raise InvalidInput(f"unknown format {fmt!r}: use 'k8s' or 'slurm'")


def _job_dict(job: Job) -> dict[str, Any]:
    data = asdict(job)
    data["state"] = job.state.value
    return data


def _resources(job: Job) -> str:
    parts = [f"{job.spec.cpus:g} cpu"]
    if job.spec.gpus:
        parts.append(f"{job.spec.gpus} gpu")
    if job.spec.memory_mb:
        parts.append(f"{job.spec.memory_mb} MiB")
    if job.spec.nprocs > 1:
        parts.append(f"x{job.spec.nprocs}")
    return ", ".join(parts)


@jobs_app.command("ls")
def list_jobs(
    ctx: typer.Context,
    state: str | None = typer.Option(None, "--state", "-s", help="Only jobs in this state."),
    user: str | None = typer.Option(None, "--user", "-u", help="Only jobs of this user."),
    project: str | None = typer.Option(None, "--project", "-p", help="Only this project."),
    limit: int = typer.Option(50, "--limit", "-n", min=1, max=10_000, help="At most this many."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List jobs, newest first."""
    from rich.table import Table

    with opened_store(ctx) as store:
        jobs = store.metadata.list_jobs(state=state, user=user, project=project, limit=limit)
    if as_json:
        typer.echo(json.dumps([_job_dict(j) for j in jobs], indent=2))
        return
    table = Table("id", "name", "user", "state", "resources", "exit", "created", "run")
    for job in jobs:
        table.add_row(
            job.id,
            job.name,
            job.user,
            job.state.value,
            _resources(job),
            "-" if job.exit_code is None else str(job.exit_code),
            format_time(job.created_at),
            job.run_id or "-",
        )
    stdout_console().print(table)


@jobs_app.command("show")
def show(
    ctx: typer.Context,
    job_id: str = typer.Argument(..., help="The job id."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show one job: definition, state, exit code, worker, run."""
    with opened_store(ctx) as store:
        job = store.metadata.get_job(job_id)
    data = _job_dict(job)
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    console = stdout_console()
    for key in ("id", "user", "state", "attempts", "exit_code", "error", "worker_id", "run_id"):
        console.print(f"[bold]{key}[/bold]: {data[key] if data[key] is not None else '-'}")
    console.print(f"[bold]created[/bold]: {format_time(job.created_at)}")
    console.print(f"[bold]started[/bold]: {format_time(job.started_at)}")
    console.print(f"[bold]finished[/bold]: {format_time(job.finished_at)}")
    console.print(f"[bold]resources[/bold]: {_resources(job)}")
    console.print(f"[bold]spec[/bold]: {json.dumps(data['spec'])}", soft_wrap=True)


def _follow(store: Any, job_id: str, *, follow: bool = False) -> None:
    from stackml.compute.api import iter_logs

    for text in iter_logs(store, job_id, follow=follow):
        sys.stdout.write(text)
        sys.stdout.flush()


@jobs_app.command("logs")
def logs(
    ctx: typer.Context,
    job_id: str = typer.Argument(..., help="The job id."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing until it ends."),
) -> None:
    """Print a job's log (all ranks); -f follows it live."""
    with opened_store(ctx) as store:
        _follow(store, job_id, follow=follow)


@jobs_app.command("cancel")
def cancel(ctx: typer.Context, job_id: str = typer.Argument(..., help="The job id.")) -> None:
    """Cancel a job; a running one is killed with its whole process tree."""
    with opened_store(ctx) as store:
        job = store.metadata.cancel_job(job_id)
    typer.echo(f"{job.id} {'cancelling' if job.state.value == 'running' else job.state.value}")


@jobs_app.command("retry")
def retry(ctx: typer.Context, job_id: str = typer.Argument(..., help="The job id.")) -> None:
    """Queue a failed or cancelled job again."""
    with opened_store(ctx) as store:
        job = store.metadata.retry_job(job_id)
    typer.echo(f"{job.id} {job.state.value}")


@jobs_app.command("workers")
def workers(
    ctx: typer.Context,
    all_workers: bool = typer.Option(False, "--all", help="Include stopped and lost workers."),
) -> None:
    """List workers: capacity, usage and last heartbeat."""
    from rich.table import Table

    with opened_store(ctx) as store:
        found = store.metadata.list_workers(include_stopped=all_workers)
    table = Table("id", "name", "state", "cpus", "gpus", "memory", "jobs", "heartbeat")
    for w in found:
        table.add_row(
            w.id,
            w.name,
            w.state,
            f"{w.used_cpus:g}/{w.cpus:g}",
            f"{len(w.used_gpus)}/{len(w.gpus)}",
            f"{w.used_memory_mb}/{w.memory_mb} MiB" if w.memory_mb else "-",
            str(w.running_jobs),
            format_time(w.heartbeat_at),
        )
    stdout_console().print(table)


@jobs_app.command("quota")
def quota(
    ctx: typer.Context,
    user: str | None = typer.Argument(None, help="Set this user's quota (omit to list them)."),
    cpus: float | None = typer.Option(None, "--cpus", min=0, help="Most CPUs running at once."),
    gpus: int | None = typer.Option(None, "--gpus", min=0, help="Most GPUs running at once."),
    jobs: int | None = typer.Option(None, "--jobs", min=0, help="Most jobs running at once."),
) -> None:
    """List per-user quotas, or set one (no limits given: clear it)."""
    from rich.table import Table

    from stackml.store.jobs_base import Quota

    with opened_store(ctx) as store:
        if user is not None:
            store.metadata.set_quota(Quota(user, max_cpus=cpus, max_gpus=gpus, max_jobs=jobs))
        quotas = store.metadata.list_quotas()
    table = Table("user", "cpus", "gpus", "jobs")
    for q in quotas:
        table.add_row(
            q.user,
            *("-" if v is None else f"{v:g}" for v in (q.max_cpus, q.max_gpus, q.max_jobs)),
        )
    stdout_console().print(table)
