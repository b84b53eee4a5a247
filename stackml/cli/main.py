"""The ``stackml`` Typer application and its entry point.

Each command group lives in its own module and adds itself with ``register(app)``. Errors that
stackml raises on purpose (:class:`stackml.errors.StackmlError`) become one red line and exit
code 1; bad usage exits with 2 (Click's convention). Anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from stackml._version import __version__
from stackml.cli import (
    baselines,
    check,
    data,
    doctor,
    import_cmd,
    init,
    jobs,
    label,
    maintenance,
    models,
    monitor,
    pipelines,
    quickstart,
    runs,
    serve,
    server,
    sweep,
    tokens,
    ui,
    worker,
)
from stackml.cli._console import print_error
from stackml.cli._store import CliState
from stackml.errors import StackmlError

__all__ = ["app", "main"]


class StackmlGroup(TyperGroup):
    """The root group: turns stackml's own errors into a clean message and exit code 1."""

    # ``Any``: the base class types this with the Click that Typer bundles privately.
    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except StackmlError as exc:
            print_error(str(exc) or type(exc).__name__)
            raise typer.Exit(1) from None


app = typer.Typer(
    name="stackml",
    cls=StackmlGroup,
    help="stackml: a self-hosted, all-in-one machine-learning platform.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"stackml {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    tracking_uri: str | None = typer.Option(
        None,
        "--tracking-uri",
        envvar="STACKML_TRACKING_URI",
        help="Store to use: a folder holding .stackml, a database URL or an http(s) server. "
        "Default: the nearest .stackml above the current directory.",
        show_envvar=True,
    ),
    artifact_uri: str | None = typer.Option(
        None,
        "--artifact-uri",
        envvar="STACKML_ARTIFACT_URI",
        help="Where blobs live: a folder or an fsspec URL such as s3://bucket/prefix.",
        show_envvar=True,
    ),
    version: bool = typer.Option(
        False,
        "--version",
        "-V",
        callback=_print_version,
        is_eager=True,
        help="Print the stackml version and exit.",
    ),
) -> None:
    """stackml: track runs, version data, train, serve and monitor models from one place."""
    ctx.obj = CliState(tracking_uri=tracking_uri, artifact_uri=artifact_uri)


for _module in (
    runs,
    tokens,
    maintenance,
    server,
    init,
    quickstart,
    data,
    ui,
    jobs,
    worker,
    doctor,
    baselines,
    models,
    sweep,
    pipelines,
    label,
    serve,
    monitor,
    check,
    import_cmd,
):
    _module.register(app)


def main() -> None:
    """Console-script entry point (``stackml``)."""
    app(prog_name="stackml")
