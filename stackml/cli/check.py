"""``stackml check MODEL@VER``: the ML Test Score of a model version, and the CI gate."""

from __future__ import annotations

from pathlib import Path

import typer

from stackml.cli._console import stdout_console
from stackml.cli._store import opened_store

__all__ = ["register"]

FORMATS = ("table", "json", "markdown", "html")


def register(app: typer.Typer) -> None:
    """Add ``check`` to the root application."""
    app.command("check")(check_command)


def check_command(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="Model version: NAME@N, NAME@ALIAS or NAME (latest)."),
    min_score: float | None = typer.Option(
        None,
        "--min-score",
        help="Exit 1 below this final score (default: min_score of stackml-checks.yaml, else 0).",
    ),
    output: str = typer.Option(
        "table", "--format", "-f", help="table (terminal), json, markdown or html."
    ),
    config_path: Path | None = typer.Option(
        None, "--config", help="A stackml-checks.yaml other than the one in this folder."
    ),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write the report to a file."),
) -> None:
    """Score a model version on the ML Test Score (28 tests; the lowest section counts).

    A test scores 1 when stackml's records prove it, 0.5 when attested by hand, else 0.

    Exits 1 below --min-score, so CI can gate on it.
    """
    from stackml.checks import check, load_config
    from stackml.checks.report import to_json, to_markdown, to_rich
    from stackml.errors import InvalidInput

    if output not in FORMATS:
        raise InvalidInput(f"--format must be one of {', '.join(FORMATS)}, not {output!r}")
    with opened_store(ctx) as store:
        config = load_config(config_path, store_root=store.location.root)
        if min_score is not None:
            config = config.model_copy(update={"min_score": min_score})
        card = check(ref, store=store, config=config)
        if output == "html":
            from stackml.ui.checks_pages import render_scorecard_html

            text = render_scorecard_html(card)
        else:
            text = {"json": to_json, "markdown": to_markdown}.get(output, lambda c: "")(card)
    console = stdout_console()
    if out is not None:
        out.write_text(text or to_markdown(card), encoding="utf-8")
        console.print(f"Report written to {out}")
    elif output == "table":
        console.print(to_rich(card))
    else:
        typer.echo(text)
    if not card.passed:
        typer.echo(
            f"ML Test Score {card.score:g} is below the minimum {card.min_score:g}", err=True
        )
        raise typer.Exit(1)
