"""How ``stackml data`` prints versions, schemas, diffs and progress."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from stackml.cli._console import format_size, format_time

if TYPE_CHECKING:
    from rich.console import Console

    from stackml.data import DatasetVersion, Schema, VersionDiff
    from stackml.store.entities import LineageEdge

_SPARK = " ▁▂▃▄▅▆▇█"


@contextmanager
def transfer_progress(console: Console, what: str) -> Iterator[Any]:
    """A progress bar of files and bytes; yields the callback the data layer calls."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (
        TextColumn(f"[bold]{what}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("files"),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(what, total=None)

        def update(files: int, size: int, total_files: int, total_size: int) -> None:
            # The bar counts bytes; the file counter is shown through the task's "completed"
            # only when there are no bytes to count (empty files).
            bar.update(
                task, completed=size if total_size else files, total=total_size or total_files
            )

        yield update


def sparkline(counts: Any) -> str:
    """A histogram as one line of block characters."""
    counts = list(counts)
    top = max(counts) if counts else 0
    if not top:
        return ""
    return "".join(_SPARK[round(c / top * (len(_SPARK) - 1))] for c in counts)


def print_versions(console: Console, versions: list[DatasetVersion]) -> None:
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for col in ("version", "id", "kind", "files", "rows", "size", "aliases", "created", "message"):
        table.add_column(col)
    for v in versions:
        table.add_row(
            f"v{v.number}" + (" (deleted)" if v.deleted else ""),
            v.id,
            v.kind,
            str(v.num_files),
            "-" if v.num_rows is None else str(v.num_rows),
            format_size(v.size_bytes),
            ",".join(v.aliases),
            format_time(v.created_at),
            v.message,
        )
    console.print(table)


def print_schema(console: Console, schema: Schema) -> None:
    from rich.table import Table

    if schema.columns:
        table = Table(title="schema and statistics", box=None, header_style="bold")
        for col in (
            "column",
            "type",
            "null",
            "count",
            "missing",
            "min",
            "mean",
            "std",
            "max",
            "histogram / top values",
        ):
            table.add_column(col)
        for c in schema.columns:
            s = c.stats

            def num(x: float | None) -> str:
                return "-" if x is None else f"{x:.4g}"

            shape = ""
            if s is not None and s.histogram is not None and c.type != "category":
                shape = sparkline(s.histogram.counts)
            elif s is not None and s.frequencies:
                shape = ", ".join(f"{k}:{n}" for k, n in list(s.frequencies.items())[:5])
            table.add_row(
                c.name,
                c.type,
                "yes" if c.nullable else "no",
                str(s.count if s else "-"),
                str(s.missing if s else "-"),
                num(s.min if s else None),
                num(s.mean if s else None),
                num(s.std if s else None),
                num(s.max if s else None),
                shape,
            )
        console.print(table)
    if schema.images is not None:
        im = schema.images
        shapes = ", ".join(f"{k} x{n}" for k, n in im.shapes.items())
        means = ", ".join(f"{m:.2f}" for m in im.channel_mean)
        stds = ", ".join(f"{m:.2f}" for m in im.channel_std)
        console.print(
            f"images: {im.count} sampled, shapes {shapes}, dtype {im.dtype}, "
            f"channel mean [{means}], std [{stds}]"
        )


def print_version(
    console: Console, v: DatasetVersion, schema: Schema, lineage: list[LineageEdge]
) -> None:
    console.print(
        f"[bold]{v.label}[/bold]  id {v.id}  ({v.kind})" + ("  DELETED" if v.deleted else "")
    )
    console.print(f"parent: {v.parent_id or '-'}   aliases: {', '.join(v.aliases) or '-'}")
    console.print(f"author: {v.author}   created: {format_time(v.created_at)}")
    console.print(f"message: {v.message or '-'}")
    rows = "-" if v.num_rows is None else str(v.num_rows)
    console.print(f"files: {v.num_files}   size: {format_size(v.size_bytes)}   rows: {rows}")
    if v.splits:
        counts = ", ".join(f"{k}={n}" for k, n in v.splits.get("counts", {}).items())
        console.print(
            f"splits: {counts} (seed {v.splits.get('seed')}, "
            f"stratified on {v.splits.get('stratify') or 'nothing'})"
        )
    if v.transform:
        console.print(f"transform: {v.transform}")
    print_schema(console, schema)
    if lineage:
        console.print("[bold]lineage[/bold]")
        for e in lineage:
            console.print(
                f"  {e.source_type}:{e.source_id} -{e.role}-> {e.target_type}:{e.target_id}"
            )


def print_diff(console: Console, d: VersionDiff) -> None:
    console.print(f"[bold]{d.a} -> {d.b}[/bold]")
    for label, items, style in (
        ("added", d.files_added, "green"),
        ("removed", d.files_removed, "red"),
        ("changed", d.files_changed, "yellow"),
    ):
        if items:
            console.print(f"files {label}: {len(items)}")
            for path in items[:20]:
                console.print(f"  [{style}]{path}[/{style}]")
            if len(items) > 20:
                console.print(f"  ... and {len(items) - 20} more")
    for col in d.columns_added:
        console.print(f"column added: [green]{col}[/green]")
    for col in d.columns_removed:
        console.print(f"column removed: [red]{col}[/red]")
    for col, (old, new) in d.type_changes.items():
        console.print(f"column {col}: type {old} -> {new}")
    if d.rows_a is not None or d.rows_b is not None:
        console.print(f"rows: {d.rows_a} -> {d.rows_b}")
    if d.key:
        console.print(
            f"rows by key {d.key!r}: +{d.rows_added} added, -{d.rows_removed} removed, "
            f"~{d.rows_changed} changed"
        )
    for shift in d.shifts:
        console.print(f"shift {shift.column}: {shift.measure} = {shift.value:+.3f}")
    if d.empty and not d.shifts:
        console.print("no differences")
