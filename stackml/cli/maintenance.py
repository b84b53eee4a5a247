"""``stackml gc`` and ``stackml fsck``: reclaim unreferenced blobs and verify stored ones."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer

from stackml.cli._console import format_size, print_error, stderr_console, stdout_console
from stackml.cli._store import opened_store

if TYPE_CHECKING:
    from collections.abc import Callable

    from rich.table import Table

#: How many entries of a list field the summary table spells out before "… and N more".
_LIST_PREVIEW = 5


def register(app: typer.Typer) -> None:
    """Add ``gc`` and ``fsck`` to the root application."""
    app.command("gc")(collect_garbage)
    app.command("fsck")(check_blobs)


@contextmanager
def _progress_bar(description: str) -> Iterator[Callable[[int, int | None], None]]:
    """A Rich progress bar on stderr and the ``(advance, total)`` callback that moves it.

    ``total`` may be ``None`` while the number of blobs is still unknown.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stderr_console(),
        transient=False,
    )
    task = progress.add_task(description, total=None)

    def advance(step: int, total: int | None) -> None:
        progress.update(task, advance=step, total=total)

    with progress:
        yield advance


def _label(name: str) -> str:
    return name.replace("_", " ")


def _cell(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) and "bytes" in name:
        return f"{value} ({format_size(value)})"
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [str(item) for item in value]
        if not items:
            return "0"
        shown = ", ".join(items[:_LIST_PREVIEW])
        more = f" … and {len(items) - _LIST_PREVIEW} more" if len(items) > _LIST_PREVIEW else ""
        return f"{len(items)}: {shown}{more}"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def print_report(title: str, report: Any) -> None:
    """Print a title line and a two-column summary of a report such as ``GcReport``."""
    from rich.text import Text

    console = stdout_console()
    console.print(Text(title, style="bold"))
    console.print(report_table(report))


def report_table(report: Any) -> Table:
    """A two-column summary of a maintenance report."""
    from rich.table import Table
    from rich.text import Text

    table = Table(header_style="bold", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value", overflow="fold")
    for name, value in ((f.name, getattr(report, f.name)) for f in dataclasses.fields(report)):
        table.add_row(_label(name), Text(_cell(name, value)))
    return table


def collect_garbage(
    ctx: typer.Context,
    dry_run: bool = typer.Option(
        False, "--dry-run", "-n", help="Only report what would be deleted; delete nothing."
    ),
    grace_seconds: int = typer.Option(
        3600,
        "--grace-seconds",
        min=0,
        help="Keep unreferenced blobs younger than this, so uploads still being recorded "
        "are not deleted under a running client.",
    ),
) -> None:
    """Delete blobs that no run, dataset or model refers to any more."""
    from stackml.store import maintenance

    with opened_store(ctx) as store:
        with _progress_bar("Collecting garbage") as progress:
            report = maintenance.collect_garbage(
                store.metadata,
                store.blobs,
                dry_run=dry_run,
                grace_seconds=grace_seconds,
                progress=progress,
            )
        title = "Garbage collection (dry run: nothing deleted)" if dry_run else "Garbage collection"
        print_report(title, report)


def check_blobs(
    ctx: typer.Context,
    quarantine: bool = typer.Option(
        False,
        "--quarantine",
        help="Move corrupt blobs aside (into the store's quarantine) so they are never served.",
    ),
) -> None:
    """Re-hash every stored blob; report corrupt ones and referenced blobs that are missing.

    Exits with code 1 when corrupt or missing blobs were found.
    """
    from stackml.store import maintenance

    with opened_store(ctx) as store:
        with _progress_bar("Verifying blobs") as progress:
            report = maintenance.check_blobs(
                store.blobs, metadata=store.metadata, quarantine=quarantine, progress=progress
            )
        print_report(f"Blob check of {store.blobs.url}", report)
    if not report.ok:
        hint = "" if quarantine or not report.corrupt else "; --quarantine sets corrupt ones aside"
        print_error(
            f"{len(report.corrupt)} corrupt and {len(report.missing)} missing blob(s){hint}"
        )
        raise typer.Exit(1)
