"""Output of ``stackml runs reproduce``."""

from __future__ import annotations

import typer

from stackml.cli._console import stderr_console, stdout_console
from stackml.cli._store import cli_state

__all__ = ["print_reproduction"]


def print_reproduction(
    ctx: typer.Context, run_id: str, tolerance: float, use_commit: bool, timeout: float | None
) -> None:
    """Reproduce ``run_id`` and print the comparison; exit 1 when it disagrees."""
    from rich.table import Table

    from stackml.training.reproduce import reproduce

    state = cli_state(ctx)
    report = reproduce(
        run_id,
        tolerance=tolerance,
        tracking_uri=state.tracking_uri,
        timeout_s=timeout,
        use_commit=use_commit,
    )
    err = stderr_console()
    for warning in report.warnings:
        err.print(f"[yellow]warning:[/] {warning}")
    console = stdout_console()
    where = (
        f"commit {report.commit[:12]}" if report.checked_out and report.commit else "current code"
    )
    console.print(f"reproduced {run_id} as {report.reproduced_id} from {where}")
    table = Table()
    for col in ("metric", "original", "reproduced", ""):
        table.add_column(col)
    for c in report.comparisons:
        new = "-" if c.reproduced is None else f"{c.reproduced:.6g}"
        table.add_row(
            c.key, f"{c.original:.6g}", new, "[green]ok[/]" if c.ok else "[red]differs[/]"
        )
    console.print(table)
    if report.returncode != 0:
        err.print(report.output)
    if not report.ok:
        console.print("[red]the reproduction disagrees with the original[/]")
        raise typer.Exit(1)
    console.print("[green]reproduced within tolerance[/]")
