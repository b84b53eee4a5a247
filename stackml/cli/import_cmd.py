"""``stackml import mlflow SOURCE``: bring an MLflow tracking store or server into stackml."""

from __future__ import annotations

import typer
from rich.progress import TaskID

from stackml.cli._console import stdout_console
from stackml.cli._store import opened_store

import_app = typer.Typer(
    help="Import runs from other tracking tools (idempotent: running again adds only what is new).",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add the ``import`` command group."""
    app.add_typer(import_app, name="import")


@import_app.command("mlflow")
def import_mlflow_command(
    ctx: typer.Context,
    source: str = typer.Argument(
        ...,
        help="MLflow tracking URI: http(s)://host:port, a database URL such as "
        "sqlite:///mlflow.db, or the path of an mlruns folder.",
    ),
    experiment: list[str] = typer.Option(
        None,
        "--experiment",
        "-e",
        help="Import only this MLflow experiment (repeat for several). Default: all.",
    ),
) -> None:
    """Import experiments, runs, params, metric histories, tags and artifacts from MLflow.

    The MLflow experiment "digits" becomes the stackml project digits (see docs/mlflow.md).

    Safe to run again: only new runs, params, tags, metric points and files are added.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from stackml.tracking.importers.mlflow import ImportProgress, import_mlflow

    console = stdout_console()
    with (
        opened_store(ctx) as store,
        Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=console,
            transient=False,
        ) as progress,
    ):
        tasks: dict[str, TaskID] = {}

        def show(step: ImportProgress) -> None:
            task = tasks.get(step.experiment)
            if task is None:
                task = tasks[step.experiment] = progress.add_task(step.experiment, total=step.total)
            progress.update(task, completed=step.done, total=step.total)

        report = import_mlflow(source, store, experiments=experiment or None, on_progress=show)
    console.print(
        f"Imported from {source}: {report.experiments} new experiments, "
        f"{report.runs_created} new runs, {report.runs_updated} updated, "
        f"{report.runs_unchanged} unchanged, {report.metric_points} metric points, "
        f"{report.artifacts} artifact files."
    )
