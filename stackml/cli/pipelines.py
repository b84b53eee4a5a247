"""``stackml pipeline``: run, list, inspect, schedule, trigger and export pipelines."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from stackml.cli._console import format_time, stdout_console
from stackml.cli._store import opened_store

if TYPE_CHECKING:
    from stackml.pipelines.definition import Pipeline
    from stackml.store import Store
    from stackml.store.pipelines_base import StepRunInfo

pipeline_app = typer.Typer(
    help="Run cached step pipelines; schedule them, trigger them on new data, export them.",
    no_args_is_help=True,
)

_PARAM = typer.Option(
    [],
    "--param",
    "-P",
    help="KEY=VALUE pipeline parameter (VALUE as JSON when it parses, else text); repeatable.",
)
_STATUS_STYLE = {
    "succeeded": "green",
    "cached": "cyan",
    "resumed": "cyan",
    "failed": "red",
    "killed": "magenta",
    "skipped": "yellow",
    "running": "blue",
    "pending": "dim",
}


def register(app: typer.Typer) -> None:
    """Add the ``pipeline`` group to the root application."""
    app.add_typer(pipeline_app, name="pipeline")


def _params(pairs: list[str]) -> dict[str, Any]:
    from stackml.errors import InvalidInput

    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise InvalidInput(f"--param takes KEY=VALUE, not {pair!r}")
        try:
            params[key] = json.loads(text)
        except json.JSONDecodeError:
            params[key] = text
    return params


def _load(store: Store, target: str) -> Pipeline:
    from stackml.pipelines.loading import resolve_pipeline

    if ":" not in target and "/" not in target:
        return resolve_pipeline(target, store)
    path, _, func = target.rpartition(":")
    if path.endswith(".py"):
        target = f"{Path(path).resolve()}:{func}"
    elif Path.cwd().as_posix() not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    return resolve_pipeline(target, store)


def _duration(step: StepRunInfo) -> str:
    if step.started_at is None or step.ended_at is None:
        return ""
    return f"{(step.ended_at - step.started_at) / 1000:.2f}s"


def _steps_table(steps: list[StepRunInfo], title: str) -> None:
    from rich.table import Table

    table = Table(title=title)
    for column in ("step", "status", "cache", "time", "run", "error"):
        table.add_column(column)
    for s in steps:
        style = _STATUS_STYLE.get(s.status, "")
        cache = "hit" if s.cache_hit else ("miss" if s.status in {"succeeded", "failed"} else "")
        table.add_row(
            s.step,
            f"[{style}]{s.status}[/]",
            cache,
            _duration(s),
            (s.run_id or "")[:12],
            s.error.splitlines()[0][:80] if s.error else "",
        )
    stdout_console().print(table)


@pipeline_app.command("run", no_args_is_help=True)
def run(
    ctx: typer.Context,
    target: str = typer.Argument(
        ..., help="Pipeline name, or 'module:function' / 'file.py:function' the first time."
    ),
    param: list[str] = _PARAM,
    force: bool = typer.Option(False, "--force", help="Run every step, ignoring the cache."),
    force_step: list[str] = typer.Option(
        [], "--force-step", help="Run this step even when cached; repeatable."
    ),
    resume: str | None = typer.Option(
        None,
        "--resume",
        help="Reuse the successful steps of this run id ('latest': the "
        "latest failed run), even the cache=False ones.",
    ),
    executor: str | None = typer.Option(
        None, "--executor", help="inprocess, local (subprocesses) or compute (stackml workers)."
    ),
    max_parallel: int | None = typer.Option(None, "--max-parallel", min=1, help="Steps at once."),
) -> None:
    """Run a pipeline; unchanged steps are cache hits. Exit code 1 when a step fails."""
    from stackml.pipelines.api import run_pipeline

    with opened_store(ctx) as store:
        pipe = _load(store, target)
        resume_arg: str | bool | None = True if resume == "latest" else resume
        with stdout_console().status(f"running pipeline {pipe.name}…"):
            result = run_pipeline(
                pipe,
                params=_params(param),
                force=force,
                force_steps=force_step,
                resume=resume_arg,
                executor=executor,
                max_parallel=max_parallel,
                store=store,
            )
        _steps_table(list(result.steps.values()), f"{pipe.name} run {result.run_id}")
        hits = len(result.cache_hits)
        stdout_console().print(
            f"{result.status}: {len(result.executed)} ran, {hits} reused from cache"
        )
    if not result.succeeded:
        raise typer.Exit(1)


@pipeline_app.command("ls")
def ls(ctx: typer.Context) -> None:
    """List pipelines with their last run, schedule and triggers."""
    from rich.table import Table

    with opened_store(ctx) as store:
        meta = store.metadata
        schedules = {s.pipeline: s for s in meta.list_schedules()}
        triggers: dict[str, list[str]] = {}
        for t in meta.list_triggers():
            triggers.setdefault(t.pipeline, []).append(t.dataset)
        table = Table(title="Pipelines")
        for column in ("name", "project", "steps", "last run", "status", "schedule", "triggers"):
            table.add_column(column)
        for p in meta.list_pipelines():
            runs = meta.list_pipeline_runs(p.name, limit=1)
            last = runs[0] if runs else None
            sched = schedules.get(p.name)
            table.add_row(
                p.name,
                p.project,
                str(len(p.spec.get("steps", []))),
                format_time(last.started_at) if last else "",
                last.status if last else "",
                f"{sched.cron} ({sched.policy})" if sched else "",
                ", ".join(triggers.get(p.name, [])),
            )
        stdout_console().print(table)


@pipeline_app.command("show", no_args_is_help=True)
def show(
    ctx: typer.Context,
    target: str = typer.Argument(..., help="A pipeline name or a pipeline run id."),
) -> None:
    """Show a pipeline (DAG, recent runs) or one run (its steps)."""
    from stackml.errors import NotFound

    with opened_store(ctx) as store:
        meta = store.metadata
        try:
            info = meta.get_pipeline(target)
        except NotFound:
            run = meta.get_pipeline_run(target)
            console = stdout_console()
            console.print(f"[bold]{run.pipeline}[/] run {run.id}: {run.status} ({run.trigger})")
            if run.error:
                console.print(f"[red]{run.error}[/]")
            _steps_table(meta.list_step_runs(run.id), "steps")
            return
        console = stdout_console()
        console.print(f"[bold]{info.name}[/] ({info.project}) — {info.entrypoint}")
        for s in info.spec.get("steps", []):
            after = ", ".join(s.get("upstream", [])) or "-"
            console.print(f"  {s['name']}  <- {after}")
        for run in meta.list_pipeline_runs(info.name, limit=10):
            console.print(f"  {format_time(run.started_at)}  {run.id}  {run.status}  {run.trigger}")


@pipeline_app.command("logs", no_args_is_help=True)
def logs(
    ctx: typer.Context,
    run_id: str = typer.Argument(..., help="A pipeline run id."),
    step: str | None = typer.Option(None, "--step", "-s", help="Only this step's log."),
) -> None:
    """Print the captured output of a run's steps."""
    from stackml.errors import NotFound

    with opened_store(ctx) as store:
        steps = store.metadata.list_step_runs(run_id)
        if step is not None:
            steps = [s for s in steps if s.step == step]
            if not steps:
                raise NotFound(f"run {run_id} has no step {step!r}")
        out = sys.stdout
        for s in steps:
            out.write(f"===== {s.step} ({s.status}) =====\n")
            if s.log_hash:
                out.write(store.blobs.get_bytes(s.log_hash).decode(errors="replace"))
            elif s.cache_hit:
                out.write(f"(reused from run {s.run_id}; see its log)\n")
        out.flush()


@pipeline_app.command("schedule", no_args_is_help=True)
def schedule_cmd(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="A registered pipeline."),
    cron: str = typer.Option(..., "--cron", help="Cron expression (UTC), e.g. '0 3 * * *'."),
    policy: str = typer.Option(
        "skip", "--policy", help="Missed runs while no server ran: 'skip' or 'catch_up'."
    ),
    param: list[str] = _PARAM,
) -> None:
    """Run a pipeline on a cron schedule (fired by `stackml server`)."""
    from stackml.pipelines.scheduler import schedule

    with opened_store(ctx) as store:
        s = schedule(store, name, cron, policy=policy, params=_params(param))
        stdout_console().print(
            f"scheduled {s.pipeline}: '{s.cron}' ({s.policy}); next {format_time(s.next_fire_at)}"
        )


@pipeline_app.command("unschedule", no_args_is_help=True)
def unschedule_cmd(ctx: typer.Context, name: str = typer.Argument(..., help="Pipeline.")) -> None:
    """Remove a pipeline's schedule."""
    from stackml.pipelines.scheduler import unschedule

    with opened_store(ctx) as store:
        unschedule(store, name)
        stdout_console().print(f"unscheduled {name}")


@pipeline_app.command("trigger", no_args_is_help=True)
def trigger_cmd(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="A registered pipeline."),
    dataset: str = typer.Option(..., "--on-dataset", help="Run on each new version of this."),
    remove: bool = typer.Option(False, "--remove", help="Remove the trigger instead."),
) -> None:
    """Run a pipeline whenever a dataset gets a new version (fired by `stackml server`)."""
    from stackml.pipelines.scheduler import add_trigger, remove_trigger

    with opened_store(ctx) as store:
        if remove:
            remove_trigger(store, name, dataset)
            stdout_console().print(f"{name} no longer runs on new versions of {dataset}")
            return
        t = add_trigger(store, name, dataset)
        stdout_console().print(f"{name} runs on each version of {dataset} after v{t.last_version}")


@pipeline_app.command("export", no_args_is_help=True)
def export(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="A registered pipeline."),
    airflow: bool = typer.Option(False, "--airflow", help="Write an Airflow DAG file."),
    output: Path | None = typer.Option(None, "--output", "-o", help="File (default stdout)."),
    cron: str | None = typer.Option(None, "--cron", help="The DAG's schedule."),
    param: list[str] = _PARAM,
) -> None:
    """Export a pipeline for another orchestrator (`--airflow`)."""
    from stackml.errors import InvalidInput
    from stackml.pipelines.airflow import export_airflow

    if not airflow:
        raise InvalidInput("choose a format: --airflow")
    with opened_store(ctx) as store:
        source = export_airflow(_load(store, name), params=_params(param), cron=cron)
    if output is None:
        sys.stdout.write(source)
    else:
        output.write_text(source)
        stdout_console().print(f"wrote {output}")


@pipeline_app.command("run-step", no_args_is_help=True)
def run_step(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="A registered pipeline."),
    step: str | None = typer.Argument(None, help="The step to run."),
    run_key: str = typer.Option(..., "--run-key", help="Key of the outer run (Airflow run_id)."),
    begin: bool = typer.Option(False, "--begin", help="Record the pipeline run."),
    end: bool = typer.Option(False, "--end", help="Close the pipeline run."),
    param: list[str] = _PARAM,
) -> None:
    """Run one step of a pipeline run driven by another orchestrator (Airflow tasks)."""
    from stackml.errors import InvalidInput
    from stackml.pipelines import airflow as af

    with opened_store(ctx) as store:
        pipe = _load(store, name)
        params = _params(param)
        if begin:
            stdout_console().print(af.begin_run(pipe, store, run_key, params))
            return
        if end:
            status = af.end_run(pipe, store, run_key, params)
        elif step is None:
            raise InvalidInput("name a step, or pass --begin or --end")
        else:
            status = af.run_one_step(pipe, store, step, run_key, params)
        stdout_console().print(status)
    if status not in {"succeeded", "cached", "resumed"}:
        raise typer.Exit(1)
