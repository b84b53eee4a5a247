"""``stackml baselines``: a project's baselines and its metric definition."""

from __future__ import annotations

import json

import typer

from stackml.cli._console import stdout_console
from stackml.cli._store import opened_store
from stackml.errors import InvalidInput

__all__ = ["register"]

baselines_app = typer.Typer(
    help="Baselines (human, published, internal) and the project's metric definition.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add the ``baselines`` group to the root application."""
    app.add_typer(baselines_app, name="baselines")


def _pairs(items: list[str], what: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in items:
        key, sep, value = item.rpartition("=")
        try:
            out[key] = float(value)
        except ValueError:
            sep = ""
        if not sep or not key:
            raise InvalidInput(f"{what} must look like name=number, not {item!r}")
    return out


@baselines_app.command("ls")
def list_baselines(
    ctx: typer.Context,
    project: str = typer.Argument(..., help="Project name."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List a project's baselines."""
    from rich.table import Table

    with opened_store(ctx) as store:
        found = store.metadata.list_baselines(project)
    if as_json:
        typer.echo(json.dumps([b.__dict__ for b in found], indent=2))
        return
    table = Table()
    for col in ("name", "kind", "metrics", "source"):
        table.add_column(col)
    for b in found:
        values = ", ".join(f"{k}={v:.4g}" for k, v in b.metrics.items())
        table.add_row(b.name, b.kind, values, b.source)
    stdout_console().print(table)


@baselines_app.command("set")
def set_baseline(
    ctx: typer.Context,
    project: str = typer.Argument(..., help="Project name."),
    name: str = typer.Argument(..., help="Baseline name, e.g. human."),
    metric: list[str] = typer.Option(..., "--metric", "-m", help="name=value; repeatable."),
    kind: str = typer.Option("human", help="human, published or internal."),
    source: str = typer.Option("", help="Where the numbers come from."),
) -> None:
    """Record a baseline entered by hand."""
    with opened_store(ctx) as store:
        b = store.metadata.set_baseline(
            project, name, kind=kind, metrics=_pairs(metric, "--metric"), source=source
        )
    stdout_console().print(f"baseline {b.name} of {b.project}: {b.metrics}")


@baselines_app.command("rm")
def remove_baseline(
    ctx: typer.Context,
    project: str = typer.Argument(..., help="Project name."),
    name: str = typer.Argument(..., help="Baseline name."),
) -> None:
    """Delete a baseline."""
    with opened_store(ctx) as store:
        store.metadata.delete_baseline(project, name)
    stdout_console().print(f"deleted baseline {name} of {project}")


@baselines_app.command("metric")
def metric_definition(
    ctx: typer.Context,
    project: str = typer.Argument(..., help="Project name."),
    weight: list[str] = typer.Option([], "--weight", help="metric=weight; repeatable."),
    objective: str | None = typer.Option(None, help="Metric to optimise under constraints."),
    constraint: list[str] = typer.Option(
        [], "--constraint", help="e.g. 'latency_p99_ms<=20'; repeatable."
    ),
    expression: str | None = typer.Option(None, help="e.g. 'acc - 0.1 * max(loss, 0)'."),
    goal: str = typer.Option("max", help="max or min."),
) -> None:
    """Show the project's metric definition, or set it with one of the options."""
    from stackml.store.training_base import OPERATORS, MetricDefinition

    definition: MetricDefinition | None = None
    if weight:
        definition = MetricDefinition("weighted", {"weights": _pairs(weight, "--weight")}, goal)
    elif objective:
        rules = []
        for text in constraint:
            op = next((o for o in OPERATORS if o in text), None)
            if op is None:
                raise InvalidInput(f"a constraint looks like metric<=value, not {text!r}")
            name, _, value = text.partition(op)
            try:
                rules.append({"metric": name.strip(), "op": op, "value": float(value)})
            except ValueError as exc:
                raise InvalidInput(f"bad constraint value in {text!r}") from exc
        definition = MetricDefinition(
            "constrained", {"objective": objective, "constraints": rules}, goal
        )
    elif expression:
        definition = MetricDefinition("expression", {"expression": expression}, goal)
    with opened_store(ctx) as store:
        if definition is not None:
            shown = store.metadata.set_metric_definition(project, definition)
        else:
            shown = store.metadata.get_metric_definition(project)
    typer.echo(json.dumps({"kind": shown.kind, "spec": shown.spec, "goal": shown.goal}, indent=2))
