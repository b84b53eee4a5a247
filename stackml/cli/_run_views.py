"""Rich renderings of runs: the list, one run in detail, and a side-by-side comparison."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from stackml.cli._console import format_size, format_time, format_value

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.table import Table

    from stackml.store.entities import Artifact, LineageEdge, Run

#: Metric columns ``runs ls`` shows when the user did not sort by any metric.
MAX_METRIC_COLUMNS = 4
# Keys containing one of these words are "lower is better" when picking the best value.
_LOWER_IS_BETTER = ("loss", "error", "err", "mse", "mae", "rmse", "perplexity", "latency")
_STATUS_STYLE = {"running": "cyan", "completed": "green", "failed": "red", "killed": "yellow"}


def _text(value: object, style: str = "") -> Any:
    """User-given text as a Rich ``Text`` so that ``[brackets]`` are never read as markup."""
    from rich.text import Text

    return Text(format_value(value), style=style)


def _duration(run: Run) -> str:
    from stackml._internal.timeutil import format_duration

    if run.end_time is None:
        return "running"
    return format_duration(run.duration_ms)


def status_text(status: str) -> Any:
    """A run status coloured by outcome."""
    return _text(status, _STATUS_STYLE.get(status, ""))


def run_to_dict(run: Run) -> dict[str, Any]:
    """A JSON-ready view of a run (``--json`` output)."""
    return {
        "id": run.id,
        "name": run.name,
        "project": run.project,
        "experiment_id": run.experiment_id,
        "status": str(getattr(run.status, "value", run.status)),
        "user": run.user,
        "parent_id": run.parent_id,
        "start_time": run.start_time,
        "end_time": run.end_time,
        "duration_ms": run.duration_ms,
        "params": dict(run.params),
        "tags": dict(run.tags),
        "metrics": {
            key: {
                "latest": s.latest,
                "step": s.latest_step,
                "min": s.min,
                "max": s.max,
                "count": s.count,
            }
            for key, s in sorted(run.metrics.items())
        },
    }


def metric_columns(runs: Sequence[Run], preferred: Iterable[str]) -> list[str]:
    """Metric keys worth a column: the ones sorted on first, then the most common ones."""
    present: dict[str, int] = {}
    for run in runs:
        for key in run.metrics:
            present[key] = present.get(key, 0) + 1
    chosen = [key for key in preferred if key in present]
    rest = sorted((key for key in present if key not in chosen), key=lambda k: (-present[k], k))
    return (chosen + rest)[: max(MAX_METRIC_COLUMNS, len(chosen))]


def runs_table(runs: Sequence[Run], metrics: Sequence[str]) -> Table:
    """The ``runs ls`` table."""
    from rich.table import Table

    table = Table(show_lines=False, header_style="bold")
    table.add_column("run id", no_wrap=True, style="bold")
    table.add_column("name")
    table.add_column("project")
    table.add_column("status")
    table.add_column("started", no_wrap=True)
    table.add_column("duration", justify="right")
    for key in metrics:
        table.add_column(key, justify="right")
    for run in runs:
        status = str(getattr(run.status, "value", run.status))
        table.add_row(
            run.id,
            _text(run.name),
            _text(run.project),
            status_text(status),
            format_time(run.start_time),
            _duration(run),
            *(_text(run.metric(key)) for key in metrics),
        )
    return table


def _key_value_table(title: str, items: dict[str, str]) -> Table:
    from rich.table import Table

    table = Table(title=title, title_justify="left", header_style="bold")
    table.add_column("key")
    table.add_column("value")
    for key, value in sorted(items.items()):
        table.add_row(_text(key), _text(value))
    return table


def run_detail(
    run: Run, artifacts: Sequence[Artifact], lineage: Sequence[LineageEdge]
) -> list[RenderableType]:
    """Everything ``runs show`` prints about one run, as a list of renderables."""
    from rich.table import Table

    status = str(getattr(run.status, "value", run.status))
    header = Table.grid(padding=(0, 2))
    header.add_column(style="bold")
    header.add_column()
    header.add_row("run", _text(f"{run.name} ({run.id})"))
    header.add_row("project", _text(run.project))
    header.add_row("experiment", _text(run.experiment_id))
    header.add_row("status", status_text(status))
    header.add_row("user", _text(run.user))
    header.add_row("started", format_time(run.start_time))
    header.add_row("ended", format_time(run.end_time))
    header.add_row("duration", _duration(run))
    if run.parent_id:
        header.add_row("parent", _text(run.parent_id))
    parts: list[RenderableType] = [header]

    parts.append(_key_value_table("Params", run.params) if run.params else "[dim]No params.[/]")
    parts.append(_key_value_table("Tags", run.tags) if run.tags else "[dim]No tags.[/]")

    if run.metrics:
        metrics = Table(title="Metrics", title_justify="left", header_style="bold")
        for name in ("key", "latest", "step", "min", "max", "points"):
            metrics.add_column(name, justify="left" if name == "key" else "right")
        for key, s in sorted(run.metrics.items()):
            metrics.add_row(
                _text(key),
                _text(s.latest),
                str(s.latest_step),
                _text(s.min),
                _text(s.max),
                str(s.count),
            )
        parts.append(metrics)
    else:
        parts.append("[dim]No metrics.[/]")

    if artifacts:
        table = Table(title="Artifacts", title_justify="left", header_style="bold")
        table.add_column("path")
        table.add_column("size", justify="right")
        table.add_column("type")
        table.add_column("blob", no_wrap=True)
        for artifact in artifacts:
            table.add_row(
                _text(artifact.path),
                format_size(artifact.size),
                _text(artifact.media_type),
                artifact.blob_hash[:12],
            )
        parts.append(table)
    else:
        parts.append("[dim]No artifacts.[/]")

    if lineage:
        table = Table(title="Lineage", title_justify="left", header_style="bold")
        table.add_column("direction")
        table.add_column("role")
        table.add_column("entity")
        for edge in lineage:
            upstream = edge.target_type == "run" and edge.target_id == run.id
            if upstream:
                other_type, other_id = edge.source_type, edge.source_id
            else:
                other_type, other_id = edge.target_type, edge.target_id
            table.add_row(
                "input" if upstream else "output",
                _text(edge.role),
                _text(f"{other_type}:{other_id}"),
            )
        parts.append(table)
    else:
        parts.append("[dim]No lineage recorded.[/]")
    return parts


def lower_is_better(key: str, minimize: Iterable[str] = ()) -> bool:
    """Whether a smaller value of metric ``key`` is the better one."""
    lowered = key.lower()
    return key in set(minimize) or any(word in lowered for word in _LOWER_IS_BETTER)


def comparison_table(
    runs: Sequence[Run], *, minimize: Iterable[str] = (), diff_only: bool = False
) -> Table:
    """Params and latest metrics of several runs side by side.

    Rows whose values differ get a yellow key; the best value of each metric is bold green
    and marked with ``*``.
    """
    from rich.table import Table
    from rich.text import Text

    minimize = list(minimize)
    table = Table(header_style="bold", show_lines=False)
    table.add_column("")
    for run in runs:
        table.add_column(Text(f"{run.name}\n{run.id}"), justify="right")

    param_keys = sorted({key for run in runs for key in run.params})
    metric_keys = sorted({key for run in runs for key in run.metrics})

    if param_keys:
        table.add_row(Text("params", style="bold underline"), *([""] * len(runs)))
    for key in param_keys:
        values = [run.params.get(key) for run in runs]
        differs = len(set(values)) > 1
        if diff_only and not differs:
            continue
        table.add_row(
            Text(key, style="yellow" if differs else ""),
            *(_text(value) for value in values),
        )

    if metric_keys:
        table.add_row(Text("metrics", style="bold underline"), *([""] * len(runs)))
    for key in metric_keys:
        numbers = [run.metric(key) for run in runs]
        present = [value for value in numbers if value is not None]
        differs = len(set(numbers)) > 1
        if diff_only and not differs:
            continue
        best: float | None = None
        if len(present) > 1 and len(set(present)) > 1:
            best = min(present) if lower_is_better(key, minimize) else max(present)
        cells = []
        for value in numbers:
            if value is not None and value == best:
                cells.append(Text(f"{format_value(value)} *", style="bold green"))
            else:
                cells.append(_text(value))
        table.add_row(Text(key, style="yellow" if differs else ""), *cells)
    return table
