"""``stackml runs``: list, inspect and compare tracked runs."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from stackml.store.entities import Run

from stackml.cli._console import stdout_console
from stackml.cli._store import opened_store

runs_app = typer.Typer(
    help="List, inspect and compare tracked runs.",
    no_args_is_help=True,
)

#: Runs fetched per request while ``runs ls`` fills its ``--limit``.
_PAGE_SIZE = 500


def register(app: typer.Typer) -> None:
    """Add the ``runs`` group to the root application."""
    app.add_typer(runs_app, name="runs")


def _metric_keys_in(order_by: list[str]) -> list[str]:
    keys = []
    for clause in order_by:
        field = clause.split()[0] if clause.split() else ""
        if field.startswith("metrics."):
            keys.append(field.removeprefix("metrics.").strip("`\"'"))
    return keys


@runs_app.command("ls")
def list_runs(
    ctx: typer.Context,
    project: str | None = typer.Option(None, "--project", "-p", help="Only runs of this project."),
    filter: str | None = typer.Option(
        None,
        "--filter",
        "-f",
        help="Filter expression, e.g. \"metrics.acc > 0.9 and params.opt = 'adam'\".",
    ),
    order_by: list[str] = typer.Option(
        [],
        "--order-by",
        "-o",
        help="Sort key such as 'metrics.acc DESC' or 'start_time ASC'; repeat for ties. "
        "Default: newest first.",
    ),
    limit: int = typer.Option(50, "--limit", "-n", min=1, help="Show at most this many runs."),
    as_json: bool = typer.Option(
        False, "--json", help="Print the runs as a JSON list instead of a table."
    ),
) -> None:
    """List runs, newest first unless --order-by says otherwise."""
    from stackml.cli._run_views import metric_columns, run_to_dict, runs_table

    runs: list[Run] = []
    with opened_store(ctx) as store:
        token: str | None = None
        while len(runs) < limit:
            page = store.metadata.search_runs(
                project=project,
                filter=filter or None,
                order_by=order_by or None,
                limit=min(_PAGE_SIZE, limit - len(runs)),
                page_token=token,
            )
            runs.extend(page.runs)
            token = page.next_page_token
            if not token or not page.runs:
                break
    runs = runs[:limit]
    if as_json:
        typer.echo(json.dumps([run_to_dict(run) for run in runs], indent=2))
        return
    console = stdout_console()
    if not runs:
        console.print("No runs found.")
        return
    console.print(runs_table(runs, metric_columns(runs, _metric_keys_in(order_by))))
    more = " (more match; raise --limit)" if token else ""
    console.print(f"[dim]{len(runs)} run(s){more}[/]")


@runs_app.command("show")
def show_run(
    ctx: typer.Context,
    run_id: str = typer.Argument(..., help="Id of the run to show."),
    as_json: bool = typer.Option(False, "--json", help="Print the run as JSON."),
) -> None:
    """Show one run: status, duration, params, tags, metrics, artifacts and lineage."""
    from stackml.cli._run_views import run_detail, run_to_dict

    with opened_store(ctx) as store:
        run = store.metadata.get_run(run_id)
        artifacts = store.metadata.list_artifacts(run_id)
        lineage = store.metadata.list_lineage("run", run_id)
    if as_json:
        data = run_to_dict(run)
        data["artifacts"] = [
            {"path": a.path, "size": a.size, "media_type": a.media_type, "blob": a.blob_hash}
            for a in artifacts
        ]
        data["lineage"] = [
            {
                "source": f"{e.source_type}:{e.source_id}",
                "target": f"{e.target_type}:{e.target_id}",
                "role": e.role,
            }
            for e in lineage
        ]
        typer.echo(json.dumps(data, indent=2))
        return
    console = stdout_console()
    for part in run_detail(run, artifacts, lineage):
        console.print(part)
        console.print()


@runs_app.command("compare")
def compare_runs(
    ctx: typer.Context,
    run_ids: list[str] = typer.Argument(..., help="Two or more run ids."),
    minimize: list[str] = typer.Option(
        [],
        "--minimize",
        help="Metric for which lower is better (losses and errors are detected by name); "
        "repeat for several.",
    ),
    diff_only: bool = typer.Option(
        False, "--diff-only", help="Only show params and metrics whose values differ."
    ),
) -> None:
    """Compare runs side by side: differing rows in yellow, best metric values marked *."""
    from stackml.cli._run_views import comparison_table

    if len(run_ids) < 2:
        raise typer.BadParameter("give at least two run ids to compare", param_hint="RUN_IDS")
    with opened_store(ctx) as store:
        runs = [store.metadata.get_run(run_id) for run_id in run_ids]
    console = stdout_console()
    console.print(comparison_table(runs, minimize=minimize, diff_only=diff_only))
    console.print(
        "[dim]yellow: values differ; *: best value (higher is better unless the metric "
        "looks like a loss or error, or is named with --minimize)[/]"
    )


@runs_app.command("reproduce")
def reproduce_run(
    ctx: typer.Context,
    run_id: str = typer.Argument(..., help="Id of the run to reproduce."),
    tolerance: float = typer.Option(0.01, help="Relative tolerance of the metric comparison."),
    current_code: bool = typer.Option(
        False, "--current-code", help="Run the current code instead of the recorded commit."
    ),
    timeout: float | None = typer.Option(None, help="Seconds the re-run may take."),
) -> None:
    """Re-run a run with its recorded commit, data versions and params; compare the metrics.

    Exits with 1 when the reproduction disagrees.
    """
    from stackml.cli._reproduce_view import print_reproduction

    print_reproduction(ctx, run_id, tolerance, not current_code, timeout)
