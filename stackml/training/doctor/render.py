"""Rich renderings of doctor reports, shared by the CLI and the quickstart."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import RenderableType

    from stackml.training.doctor import DoctorReport
    from stackml.training.doctor.bias_variance import BiasVarianceReport

__all__ = ["render_bias_variance", "render_findings"]


def render_findings(report: DoctorReport) -> RenderableType:
    """A table of checks: verdict, what was seen, what to do."""
    from rich.table import Table

    table = Table(title="training doctor", show_lines=False)
    table.add_column("check")
    table.add_column("", justify="center")
    table.add_column("finding")
    table.add_column("advice")
    for f in report.findings:
        mark = "[green]ok[/]" if f.ok else "[red]FAIL[/]"
        table.add_row(f.check, mark, f.message, f.advice)
    return table


def render_bias_variance(report: BiasVarianceReport) -> RenderableType:
    """The error decomposition as a table, the diagnosis and the next steps in order."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    table = Table(title="bias-variance decomposition")
    table.add_column("part")
    table.add_column("error", justify="right")
    for label, value in report.parts():
        table.add_row(
            label, f"{value:+.4f}" if label != "irreducible (baseline)" else f"{value:.4f}"
        )
    table.add_row("[bold]test error[/]", f"[bold]{report.errors['test']:.4f}[/]")
    names = {
        "bias": "underfitting (avoidable bias)",
        "variance": "overfitting (variance)",
        "shift": "distribution shift",
        "val_overfitting": "validation set overfitted",
        "ok": "nothing stands out",
    }
    lines = [Text.from_markup(f"diagnosis: [bold]{names[report.diagnosis]}[/]")]
    lines += [Text(f"  {i}. {step}") for i, step in enumerate(report.next_steps, 1)]
    return Group(table, *lines)
