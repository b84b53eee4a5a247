"""Run the quickstart's stages in order with a Rich progress display, then summarise."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from stackml.quickstart.context import DEFAULT_SEED, QuickstartContext

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID
    from rich.table import Table

    from stackml.quickstart.stage import Stage, StageResult

#: The quickstart's folder when none is given, relative to the working directory.
DEFAULT_DIR = "stackml-quickstart"


@dataclass(frozen=True)
class QuickstartReport:
    """Outcome of a whole quickstart.

    Attributes:
        workdir: The quickstart's folder.
        store_dir: Its embedded store.
        results: Each stage's result, by stage name, in the order they ran.
        titles: Each stage's title, by stage name.
        seconds: Wall time of each stage, by stage name.
    """

    workdir: Path
    store_dir: Path
    results: dict[str, StageResult]
    titles: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def run_quickstart(
    workdir: str | Path = DEFAULT_DIR,
    *,
    stages: Sequence[Stage] | None = None,
    seed: int = DEFAULT_SEED,
    console: Console | None = None,
) -> QuickstartReport:
    """Run ``stages`` (default: every stage stackml ships) in ``workdir``.

    Args:
        workdir: The quickstart's folder, created if missing; its store is
            ``workdir/.stackml``.
        stages: Stages to run, in order.
        seed: Seed for every random choice.
        console: Where the progress display goes (default: a new console on stdout).

    Returns:
        The report of every stage.

    Raises:
        StackmlError: A stage failed; the stages after it did not run.
    """
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from stackml.quickstart.stages import default_stages

    stages = list(default_stages() if stages is None else stages)
    names = [stage.name for stage in stages]
    if len(set(names)) != len(names):
        from stackml.errors import InvalidInput

        raise InvalidInput(f"quickstart stage names must be unique, got {names}")
    root = Path(workdir).expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True)
    ctx = QuickstartContext(workdir=root, seed=seed)
    console = console or Console()
    titles = {stage.name: stage.title for stage in stages}
    seconds: dict[str, float] = {}

    progress = Progress(
        SpinnerColumn(finished_text="[green]✓[/]"),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
    )
    with progress:
        tasks = {
            stage.name: progress.add_task(f"[dim]{escape(stage.title)}[/]", total=1, start=False)
            for stage in stages
        }
        for number, stage in enumerate(stages, start=1):
            task = tasks[stage.name]
            label = f"[{number}/{len(stages)}] {escape(stage.title)}"
            progress.start_task(task)
            progress.update(task, description=label)
            ctx.progress = _describer(progress, task, label)
            started = time.perf_counter()
            try:
                result = stage.run(ctx)
            except BaseException:
                progress.update(task, description=f"[red]{label} — failed[/]")
                raise
            seconds[stage.name] = time.perf_counter() - started
            ctx.results[stage.name] = result
            progress.update(task, description=f"{label} — {escape(result.headline)}", completed=1)
            progress.stop_task(task)
    return QuickstartReport(
        workdir=root,
        store_dir=ctx.store_dir,
        results=dict(ctx.results),
        titles=titles,
        seconds=seconds,
    )


def _describer(progress: Progress, task: TaskID, label: str) -> Callable[[str], None]:
    """The ``ctx.progress`` callback of one stage: shows its latest message beside its title."""
    from rich.markup import escape

    def describe(message: str) -> None:
        progress.update(task, description=f"{label} [dim]— {escape(message)}[/]")

    return describe


def summary_table(report: QuickstartReport) -> Table:
    """The final table: one row per stage with its result, main run and time."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title="stackml quickstart", title_justify="left", header_style="bold")
    table.add_column("stage")
    table.add_column("result")
    table.add_column("run", no_wrap=True)
    table.add_column("time", justify="right")
    for name, result in report.results.items():
        table.add_row(
            Text(report.titles.get(name, name)),
            Text(result.headline),
            Text(result.run_id or "-"),
            f"{report.seconds.get(name, 0.0):.1f}s",
        )
    return table
