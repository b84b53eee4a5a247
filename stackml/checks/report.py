"""Renderings of a :class:`~stackml.checks.scoring.Scorecard`: JSON, Markdown and Rich."""

from __future__ import annotations

import json

from rich.table import Table

from stackml.checks.rubric import SECTIONS
from stackml.checks.scoring import Scorecard

__all__ = ["to_json", "to_markdown", "to_rich"]

_MARK = {1.0: "✅ 1", 0.5: "📝 0.5", 0.0: "❌ 0"}


def to_json(card: Scorecard) -> str:
    """Machine-readable report."""
    return json.dumps(card.to_dict(), indent=2)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(card: Scorecard) -> str:
    """A report for a pull-request comment."""
    verdict = "passes" if card.passed else "fails"
    lines = [
        f"### ML Test Score — {card.model} v{card.version}",
        "",
        f"**Score {card.score:g}** ({card.band}); the gate at {card.min_score:g} {verdict}.",
        "",
        "| section | score |",
        "|---|---|",
        *(f"| {s} | {card.sections[s]:g} / 7 |" for s in SECTIONS),
        "",
        "| test | title | score | evidence |",
        "|---|---|---|---|",
    ]
    for r in card.results:
        lines.append(
            f"| {r.test.id} | {_md_cell(r.test.title)} | {_MARK[r.score]} | {_md_cell(r.detail)} |"
        )
    return "\n".join(lines) + "\n"


def to_rich(card: Scorecard) -> Table:
    """The terminal table."""
    colour = "green" if card.passed else "red"
    table = Table(
        title=f"ML Test Score: {card.model} v{card.version} = "
        f"[bold {colour}]{card.score:g}[/] ({card.band})",
        caption="sections: " + ", ".join(f"{s} {card.sections[s]:g}/7" for s in SECTIONS),
        show_lines=False,
    )
    table.add_column("test", style="bold", no_wrap=True)
    table.add_column("title")
    table.add_column("score", justify="right", no_wrap=True)
    table.add_column("how", no_wrap=True)
    table.add_column("evidence", overflow="fold")
    style = {1.0: "green", 0.5: "yellow", 0.0: "red"}
    for r in card.results:
        table.add_row(r.test.id, r.test.title, f"[{style[r.score]}]{r.score:g}[/]", r.how, r.detail)
    return table
