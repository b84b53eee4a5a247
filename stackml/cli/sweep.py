"""``stackml sweep``: create, run, join, inspect and stop hyperparameter sweeps."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import typer

from stackml.cli._console import format_time, stdout_console
from stackml.cli._store import cli_state

if TYPE_CHECKING:
    from stackml.store.tuning_base import Sweep

sweep_app = typer.Typer(
    help="Hyperparameter sweeps on Optuna: create, run agents, analyse.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Add the ``sweep`` group to the root application."""
    app.add_typer(sweep_app, name="sweep")


def _uri(ctx: typer.Context) -> str | None:
    return cli_state(ctx).tracking_uri


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _describe(sweep: Sweep) -> str:
    return (
        f"sweep [bold]{sweep.project}/{sweep.name}[/] ({sweep.id}) method {sweep.method}, "
        f"{sweep.claimed}/{sweep.budget} trials started, {sweep.state}"
    )


_SWEEP = typer.Argument(..., help="Sweep id or PROJECT/NAME.")


@sweep_app.command("create")
def create(
    ctx: typer.Context,
    path: str = typer.Argument(..., help="Sweep definition, a YAML or JSON file."),
    name: str | None = typer.Option(None, "--name", help="Override the definition's name."),
) -> None:
    """Check a sweep definition and record the sweep (no trial runs yet)."""
    from stackml.tuning import create_sweep, load_spec

    spec = load_spec(path)
    if name is not None:
        from stackml.tuning import SweepSpec

        spec = SweepSpec.from_mapping({**spec.to_dict(), "name": name})
    sweep = create_sweep(spec, tracking_uri=_uri(ctx))
    console = stdout_console()
    console.print(_describe(sweep))
    console.print(f"next: stackml sweep run {sweep.id}   or   stackml sweep agent {sweep.id}")


@sweep_app.command("agent")
def agent(
    ctx: typer.Context,
    sweep_ref: str = _SWEEP,
    count: int | None = typer.Option(None, "--count", "-n", min=1, help="Run at most N trials."),
) -> None:
    """Join a sweep from this machine and run its trials until the budget is spent."""
    from rich.progress import Progress

    from stackml.tuning import get_sweep, run_agent

    uri = _uri(ctx)
    sweep = get_sweep(sweep_ref, tracking_uri=uri)
    with Progress(console=stdout_console(), transient=True) as progress:
        task = progress.add_task(f"sweep {sweep.name}", total=count or sweep.budget)
        result = run_agent(
            sweep.id, count=count, tracking_uri=uri, on_trial=lambda _n: progress.advance(task)
        )
    states = ", ".join(f"{v} {k}" for k, v in sorted(result.states.items())) or "none"
    stdout_console().print(f"ran {len(result.trials)} trials ({states})")
    if result.completed_sweep:
        stdout_console().print("the sweep is complete: stackml sweep best " + sweep.id)


@sweep_app.command("run")
def run(
    ctx: typer.Context,
    sweep_ref: str = _SWEEP,
    executor: str = typer.Option("local", "--executor", help="local (job queue) or ray."),
    parallelism: int | None = typer.Option(
        None, "--parallelism", "-p", min=1, help="Agents at once (default: the budget's)."
    ),
    no_wait: bool = typer.Option(
        False, "--no-wait", help="Only queue the agent jobs, for `stackml worker` processes."
    ),
    ray_address: str | None = typer.Option(None, "--ray-address", help="Ray cluster address."),
) -> None:
    """Start the sweep's agents as compute jobs with the sweep's per-trial resources."""
    from stackml.tuning import launch_sweep

    result = launch_sweep(
        sweep_ref,
        executor=executor,
        parallelism=parallelism,
        wait=not no_wait,
        ray_address=ray_address,
        tracking_uri=_uri(ctx),
    )
    console = stdout_console()
    for job in result.jobs:
        console.print(f"job {job.id} {job.spec.name}: {job.state.value}")


@sweep_app.command("status")
def status(
    ctx: typer.Context,
    sweep_ref: str | None = typer.Argument(None, help="Sweep id or PROJECT/NAME; omit to list."),
    project: str | None = typer.Option(None, "--project", help="List only this project."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List sweeps, or show one sweep's trials and progress."""
    from rich.table import Table

    from stackml.tuning import list_sweeps, sweep_report

    uri = _uri(ctx)
    console = stdout_console()
    if sweep_ref is None:
        sweeps = list_sweeps(project, tracking_uri=uri)
        if as_json:
            typer.echo(json.dumps([s.__dict__ for s in sweeps], default=str))
            return
        table = Table("id", "project/name", "method", "trials", "state", "created")
        for s in sweeps:
            table.add_row(
                s.id[:12], f"{s.project}/{s.name}", s.method, f"{s.claimed}/{s.budget}", s.state,
                format_time(s.created_at),
            )  # fmt: skip
        console.print(table)
        return
    report = sweep_report(sweep_ref, tracking_uri=uri)
    sweep = report["sweep"]
    if as_json:
        out = {
            "sweep": sweep.__dict__,
            "counts": report["counts"],
            "trials": [t.__dict__ for t in report["trials"]],
            "rounds": report["rounds"],
        }
        typer.echo(json.dumps(out, default=str))
        return
    console.print(_describe(sweep))
    counts = ", ".join(f"{v} {k}" for k, v in sorted(report["counts"].items())) or "no trials"
    console.print(f"trials: {counts}")
    table = Table("#", "state", "value(s)", "params", "run")
    for t in report["trials"]:
        values = ", ".join(_fmt(v) for v in t.values) if t.values else "-"
        params = " ".join(f"{k}={_fmt(v)}" for k, v in t.params.items())
        table.add_row(str(t.number), t.state, values, params, (t.run_id or "-")[:12])
    console.print(table)
    for r in report["rounds"]:
        console.print(f"round {r['round']}: {json.dumps(r['space'])}")


@sweep_app.command("best")
def best(
    ctx: typer.Context,
    sweep_ref: str = _SWEEP,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The best trial (or the Pareto front of a multi-objective sweep)."""
    from stackml.tuning import get_sweep, pareto_front

    uri = _uri(ctx)
    sweep = get_sweep(sweep_ref, tracking_uri=uri)
    front = pareto_front(sweep.id, tracking_uri=uri)
    if as_json:
        typer.echo(json.dumps([t.__dict__ for t in front], default=str))
        return
    console = stdout_console()
    if not front:
        console.print("no completed trial yet")
        raise typer.Exit(1)
    label = "best trial" if len(front) == 1 else f"Pareto front ({len(front)} trials)"
    console.print(f"{label} of {sweep.project}/{sweep.name}:")
    for t in front:
        values = ", ".join(_fmt(v) for v in t.values or [])
        console.print(f"  trial {t.number}: {values}  run {t.run_id}")
        for key, value in t.params.items():
            console.print(f"    {key} = {_fmt(value)}")


@sweep_app.command("importance")
def importance(
    ctx: typer.Context,
    sweep_ref: str = _SWEEP,
    objective: int = typer.Option(0, "--objective", min=0, help="Objective index."),
) -> None:
    """Parameter importances (fANOVA) of a sweep's completed trials."""
    from stackml.tuning import importances

    found = importances(sweep_ref, objective=objective, tracking_uri=_uri(ctx))
    console = stdout_console()
    for key, value in found.items():
        bar = "█" * max(1, round(value * 40))
        console.print(f"{key:>24} {value:6.3f} {bar}")


@sweep_app.command("stop")
def stop(ctx: typer.Context, sweep_ref: str = _SWEEP) -> None:
    """Stop a sweep: no new trials start; running ones finish."""
    from stackml.tuning import stop_sweep

    sweep = stop_sweep(sweep_ref, tracking_uri=_uri(ctx))
    stdout_console().print(_describe(sweep))
