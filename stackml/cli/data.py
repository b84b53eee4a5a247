"""``stackml data``: add, list, show, diff, get, validate, tag, remove and query versions."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import typer

from stackml.cli._console import format_size, print_error, stdout_console
from stackml.cli._data_views import (
    print_diff,
    print_version,
    print_versions,
    transfer_progress,
)
from stackml.cli._store import opened_store

data_app = typer.Typer(
    help="Version datasets: files and tables with schema and splits.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Add the ``data`` group to the root application."""
    app.add_typer(data_app, name="data")


def _read_text(path: Path | None) -> str | None:
    if path is None:
        return None
    from stackml.errors import InvalidInput

    try:
        return path.read_text()
    except OSError as error:
        raise InvalidInput(f"{path}: cannot read ({error.strerror})") from error


@data_app.command("add")
def add(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Dataset name."),
    path: Path = typer.Argument(..., help="A folder or file; a .csv/.parquet file is a table."),
    message: str = typer.Option("", "--message", "-m", help="What this version changes."),
    table: Path | None = typer.Option(
        None, "--table", help="A label table stored beside the files."
    ),
    path_column: str | None = typer.Option(
        None, "--path-column", help="Table column naming files."
    ),
    split: str | None = typer.Option(
        None,
        "--split",
        help="e.g. train=0.8,val=0.1,test=0.1, or 'two-val' for train/train_val/test_val/test.",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the split assignment."),
    label: str | None = typer.Option(
        None, "--label", help="Label column: splits are stratified on it."
    ),
    key: str | None = typer.Option(None, "--key", help="Column identifying rows (for diff)."),
    expectations: Path | None = typer.Option(
        None, "--expectations", help="Expectations YAML file."
    ),
    follow_symlinks: bool = typer.Option(False, "--follow-symlinks", help="Store symlink targets."),
    verify: bool = typer.Option(False, "--verify", help="Re-hash every file (ignore the cache)."),
    as_json: bool = typer.Option(False, "--json", help="Print the version as JSON."),
) -> None:
    """Add a new version of a dataset."""
    from stackml.data import add as add_version
    from stackml.data.splits import parse_spec

    spec = parse_spec(split) if split else None
    console = stdout_console()
    with opened_store(ctx) as store, transfer_progress(console, "adding") as progress:
        version = add_version(
            name,
            path,
            store=store,
            message=message,
            table=table,
            path_column=path_column,
            split=spec,
            seed=seed,
            label=label,
            key=key,
            expectations=_read_text(expectations),
            follow_symlinks=follow_symlinks,
            verify=verify,
            progress=progress,
        )
    if as_json:
        typer.echo(json.dumps(asdict(version), default=list))
        return
    console.print(
        f"added {version.label} (id {version.id}): {version.num_files} files, "
        f"{format_size(version.size_bytes)}"
        + ("" if version.num_rows is None else f", {version.num_rows} rows")
    )


@data_app.command("ls")
def list_cmd(
    ctx: typer.Context,
    name: str | None = typer.Argument(None, help="List this dataset's versions."),
    all_versions: bool = typer.Option(False, "--all", help="Include deleted versions."),
) -> None:
    """List datasets, or the versions of one."""
    import stackml.data as sd

    console = stdout_console()
    with opened_store(ctx) as store:
        if name is None:
            for d in sd.list_datasets(store=store):
                console.print(f"{d.name}  {d.version_count} versions  latest {d.latest_id or '-'}")
            return
        print_versions(console, sd.list_versions(name, store=store, include_deleted=all_versions))


@data_app.command("show")
def show(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="NAME@VERSION (id, vN or alias)."),
    as_json: bool = typer.Option(False, "--json", help="Print the version as JSON."),
) -> None:
    """Show a version's schema, statistics, size, splits and lineage."""
    import stackml.data as sd

    with opened_store(ctx) as store:
        handle = sd.get(*sd.parse_ref(ref), store=store)
        lineage = store.metadata.list_lineage("dataset_version", handle.ref)
    if as_json:
        typer.echo(json.dumps(asdict(handle.version), default=list))
        return
    print_version(stdout_console(), handle.version, handle.schema, lineage)


@data_app.command("diff")
def diff(
    ctx: typer.Context,
    a: str = typer.Argument(..., help="NAME@VERSION to compare from."),
    b: str = typer.Argument(..., help="NAME@VERSION to compare to."),
    key: str | None = typer.Option(None, "--key", help="Row key (default: the version's key)."),
) -> None:
    """Files added/removed/changed; rows, schema and statistics changes of tables."""
    import stackml.data as sd

    with opened_store(ctx) as store:
        result = sd.diff(a, b, key=key, store=store)
    print_diff(stdout_console(), result)


@data_app.command("get")
def get(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="NAME@VERSION."),
    dest: Path = typer.Argument(..., help="A missing or empty folder."),
    link: bool = typer.Option(
        False,
        "--link",
        help="Reflink or hardlink (read-only) from a local store instead of copying.",
    ),
) -> None:
    """Materialise a version into a folder."""
    import stackml.data as sd
    from stackml.data.materialize import materialize

    console = stdout_console()
    with opened_store(ctx) as store, transfer_progress(console, "getting") as progress:
        version = sd.resolve(*sd.parse_ref(ref), store=store)
        materialize(store.blobs, version, dest, link=link, progress=progress)
    console.print(f"wrote {version.label} ({version.num_files} files) to {dest}")


@data_app.command("validate")
def validate(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="NAME@VERSION to validate."),
    against: str | None = typer.Option(
        None, "--against", help="NAME@REF whose schema to check against."
    ),
    expectations: Path | None = typer.Option(
        None, "--expectations", help="Expectations YAML file."
    ),
    suggest: bool = typer.Option(
        False, "--suggest", help="Print expectations YAML from the schema."
    ),
) -> None:
    """Check a version against expectations and a reference schema; exit 1 on failure."""
    import stackml.data as sd

    console = stdout_console()
    with opened_store(ctx) as store:
        if suggest:
            typer.echo(sd.suggest(sd.get(*sd.parse_ref(ref), store=store).schema), nl=False)
            return
        report = sd.validate(
            ref, against=against, expectations=_read_text(expectations), store=store
        )
    console.print(report.render(), markup=False)
    if not report.ok:
        print_error(f"{len(report.failures)} expectation(s) failed")
        raise typer.Exit(1)


@data_app.command("tag")
def tag(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="NAME@VERSION to point the alias at."),
    alias: str = typer.Argument(..., help="Alias such as prod."),
    remove: bool = typer.Option(False, "--remove", help="Remove the alias instead."),
) -> None:
    """Move an alias to a version (with --remove: delete it); its history is kept."""
    import stackml.data as sd

    name, version = sd.parse_ref(ref)
    with opened_store(ctx) as store:
        event = sd.tag(name, alias, None if remove else version, store=store)
    target = event.version_id or "nothing (removed)"
    stdout_console().print(f"{name}@{alias} -> {target}")


@data_app.command("rm")
def rm(ctx: typer.Context, ref: str = typer.Argument(..., help="NAME@VERSION.")) -> None:
    """Soft-delete a version; `stackml gc` then frees its blobs."""
    import stackml.data as sd

    name, version = sd.parse_ref(ref, default_version="")
    if not version:
        from stackml.errors import InvalidInput

        raise InvalidInput("name the version to remove, e.g. digits@v3")
    with opened_store(ctx) as store:
        removed = sd.remove(name, version, store=store)
    stdout_console().print(
        f"removed {removed.label} (id {removed.id}); run `stackml gc` to free space"
    )


@data_app.command("query")
def query(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="NAME@VERSION whose table to query."),
    sql: str = typer.Argument(
        ..., help="SQL over the table 'data', e.g. SELECT count(*) FROM data."
    ),
    limit: int = typer.Option(50, "--limit", "-n", help="Print at most this many rows."),
) -> None:
    """Run DuckDB SQL on a version's table."""
    from rich.table import Table

    import stackml.data as sd

    with opened_store(ctx) as store:
        result = sd.query(ref, sql, store=store)
    table = Table(box=None, header_style="bold")
    for col in result.column_names:
        table.add_column(col)
    for row in result.slice(0, limit).to_pylist():
        table.add_row(*("" if v is None else str(v) for v in row.values()))
    stdout_console().print(table)
