"""``stackml models``: register, list, show, promote and roll back model versions.

Export, compression and comparison (``export``, ``compress``, ``compare``) and packaging add
their commands to the same group from :mod:`stackml.cli.models_tools` and
:mod:`stackml.cli.models_package`.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import typer

from stackml.cli import models_package, models_tools
from stackml.cli._console import format_size, format_time, stdout_console
from stackml.cli._store import opened_store

if TYPE_CHECKING:
    from rich.console import Console

    from stackml.store.registry_base import ModelAliasEvent, ModelVersion

models_app = typer.Typer(
    help="The model registry: versions, aliases, promotion through gates, rollback.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add the ``models`` group (and the commands other modules contribute) to the app."""
    models_tools.add_commands(models_app)
    models_package.add_commands(models_app)
    app.add_typer(models_app, name="models")


def _pairs(values: list[str], what: str) -> dict[str, str]:
    from stackml.errors import InvalidInput

    out = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInput(f"{what} {item!r} must be KEY=VALUE")
        out[key] = value
    return out


def _json_default(value: Any) -> Any:
    return list(value) if isinstance(value, (tuple, set, frozenset)) else str(value)


@models_app.command("register")
def register_cmd(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Registered model name (created on first use)."),
    source: str = typer.Argument(
        ..., help="runs:/<run_id>/<artifact path>: files the run logged (nothing else is accepted)."
    ),
    format: str | None = typer.Option(
        None, "--format", help="Format of the files (default: the logged model's descriptor)."
    ),
    description: str = typer.Option("", "--description", "-d", help="What this version is."),
    tag: list[str] = typer.Option([], "--tag", "-t", help="KEY=VALUE, repeatable."),
    source_version: str | None = typer.Option(
        None, "--compressed-from", help="NAME@N this version was derived from."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the version as JSON."),
) -> None:
    """Register a run's artifact as the next version of a model."""
    from stackml.registry import register as register_version

    with opened_store(ctx) as store:
        version = register_version(
            name,
            source=source,
            format=format,
            description=description,
            tags=_pairs(tag, "tag"),
            source_version=source_version,
            store=store,
        )
    if as_json:
        typer.echo(json.dumps(asdict(version), default=_json_default))
        return
    stdout_console().print(
        f"registered [bold]{version.ref}[/bold] ({version.format}, "
        f"{format_size(version.size_bytes)}) from run {version.run_id}"
    )


@models_app.command("ls")
def list_cmd(
    ctx: typer.Context,
    name: str | None = typer.Argument(None, help="List this model's versions."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List registered models, or the versions of one."""
    from rich.table import Table

    from stackml.registry import list_models, list_versions

    console = stdout_console()
    with opened_store(ctx) as store:
        if name is None:
            models = list_models(store=store)
            if as_json:
                typer.echo(json.dumps([asdict(m) for m in models]))
                return
            table = Table("model", "versions", "latest", "aliases", "updated")
            for m in models:
                aliases = ", ".join(f"{a}→{v}" for a, v in m.aliases.items()) or "-"
                table.add_row(
                    m.name,
                    str(m.version_count),
                    str(m.latest_version or "-"),
                    aliases,
                    format_time(m.updated_at),
                )
            console.print(table)
            return
        versions = list_versions(name, store=store)
    if as_json:
        typer.echo(json.dumps([asdict(v) for v in versions], default=_json_default))
        return
    table = Table("version", "format", "size", "aliases", "metrics", "run", "created")
    for v in versions:
        metrics = ", ".join(f"{k}={val:.4g}" for k, val in sorted(v.metrics.items())[:3])
        table.add_row(
            str(v.version),
            v.format,
            format_size(v.size_bytes),
            ", ".join(v.aliases) or "-",
            metrics or "-",
            v.run_id[:8],
            format_time(v.created_at),
        )
    console.print(table)


def _print_version(console: Console, v: ModelVersion, history: list[ModelAliasEvent]) -> None:
    console.print(f"[bold]{v.ref}[/bold]  {v.format}  {format_size(v.size_bytes)}")
    if v.description:
        console.print(v.description)
    console.print(f"source    runs:/{v.run_id}/{v.artifact_path}")
    console.print(f"author    {v.author}   created {format_time(v.created_at)}")
    console.print(f"commit    {v.code_commit or '-'}")
    console.print(f"datasets  {', '.join(v.dataset_versions) or '-'}")
    if v.source_version:
        console.print(f"derived   from {v.source_version}")
    console.print(f"aliases   {', '.join(v.aliases) or '-'}")
    if v.tags:
        console.print("tags      " + ", ".join(f"{k}={val}" for k, val in sorted(v.tags.items())))
    sig = v.signature
    for spec in sig.get("inputs", []):
        console.print(f"input     {spec['name']} {spec['dtype']} {tuple(spec['shape'])}")
    for spec in sig.get("outputs", []):
        console.print(f"output    {spec['name']} {spec['dtype']} {tuple(spec['shape'])}")
    if sig.get("classes"):
        console.print(f"classes   {', '.join(sig['classes'])}")
    for key, value in sorted(v.metrics.items()):
        console.print(f"metric    {key} = {value:.6g}")
    for event in history:
        if event.version == v.version or event.previous == v.version:
            console.print(
                f"alias     {format_time(event.moved_at)} {event.alias}: "
                f"{event.previous or '-'} → {event.version or '-'} ({event.action} by "
                f"{event.author}{': ' + event.reason if event.reason else ''})"
            )


@models_app.command("show")
def show(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="NAME, NAME@N or NAME@ALIAS."),
    as_json: bool = typer.Option(False, "--json", help="Print the version as JSON."),
) -> None:
    """Show a version: source, lineage, signature, metrics and alias moves."""
    from stackml.registry import alias_history, get_version

    with opened_store(ctx) as store:
        version = get_version(ref, store=store)
        history = alias_history(version.model, store=store)
    if as_json:
        typer.echo(json.dumps(asdict(version), default=_json_default))
        return
    _print_version(stdout_console(), version, history)


@models_app.command("promote")
def promote_cmd(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="NAME@N (or NAME@ALIAS) to promote."),
    alias: str = typer.Option("production", "--alias", "-a", help="Alias to move."),
    reason: str = typer.Option("", "--reason", "-r", help="Why (kept in the audit trail)."),
    author: str | None = typer.Option(None, "--author", help="Who (default: your user name)."),
    force: bool = typer.Option(
        False, "--force", help="Promote even if a gate fails (needs --reason; recorded)."
    ),
) -> None:
    """Move an alias to a version after its gates pass; a failing gate exits with code 1."""
    from stackml.registry import promote

    with opened_store(ctx) as store:
        event = promote(ref, alias=alias, reason=reason, author=author, force=force, store=store)
    console = stdout_console()
    for spec, result in event.gates.items():
        if isinstance(result, dict):
            mark = "[green]pass[/green]" if result.get("passed") else "[red]fail[/red]"
            console.print(f"gate {spec}: {mark} {'; '.join(result.get('reasons', []))}")
    console.print(
        f"{event.model}@{event.alias} → version {event.version}"
        f" (was {event.previous or '-'})"
        + (" [yellow]forced[/yellow]" if event.gates.get("forced") else "")
    )


@models_app.command("rollback")
def rollback_cmd(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Registered model name."),
    alias: str = typer.Option("production", "--alias", "-a", help="Alias to move back."),
    to: int | None = typer.Option(None, "--to", help="Version to go back to (default: previous)."),
    reason: str = typer.Option("", "--reason", "-r", help="Why (kept in the audit trail)."),
    author: str | None = typer.Option(None, "--author", help="Who (default: your user name)."),
) -> None:
    """Move an alias back to where it pointed before its last move."""
    from stackml.registry import rollback

    with opened_store(ctx) as store:
        event = rollback(name, alias=alias, to=to, reason=reason, author=author, store=store)
    stdout_console().print(
        f"{event.model}@{event.alias} rolled back to version {event.version} (was {event.previous})"
    )


@models_app.command("history")
def history_cmd(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Registered model name."),
    alias: str | None = typer.Option(None, "--alias", "-a", help="Only this alias."),
) -> None:
    """The audit trail: every alias move with who, when, why and the gates' answers."""
    from rich.table import Table

    from stackml.registry import alias_history

    with opened_store(ctx) as store:
        events = alias_history(name, alias, store=store)
    table = Table("when", "alias", "from", "to", "action", "who", "why", "gates")
    for e in events:
        gates = ", ".join(
            f"{k}:{'pass' if v.get('passed') else 'fail'}"
            for k, v in e.gates.items()
            if isinstance(v, dict)
        )
        table.add_row(
            format_time(e.moved_at),
            e.alias,
            str(e.previous or "-"),
            str(e.version or "-"),
            e.action,
            e.author,
            e.reason or "-",
            gates or "-",
        )
    stdout_console().print(table)


@models_app.command("gates")
def gates_cmd(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Registered model name."),
    gate: list[str] = typer.Argument(
        None, help="Gate specs, e.g. 'metric:test_accuracy>=0.95' 'ml-test-score'; none clears."
    ),
    alias: str = typer.Option("production", "--alias", "-a", help="Alias the gates guard."),
) -> None:
    """Set the gates that guard promotion to an alias."""
    from stackml.registry import set_gates

    with opened_store(ctx) as store:
        model = set_gates(name, list(gate or []), alias=alias, store=store)
    specs = model.gates.get(alias, [])
    stdout_console().print(f"{name}@{alias} gates: {', '.join(specs) or 'none'}")
