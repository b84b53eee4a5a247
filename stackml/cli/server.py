"""``stackml server``: the tracking server with its REST API, MLflow-compatible API and web UI."""

from __future__ import annotations

import typer

from stackml.cli._console import stdout_console
from stackml.cli._net import warn_if_exposed


def register(app: typer.Typer) -> None:
    """Add ``server`` to the root application."""
    app.command("server")(run_server)


def run_server(
    ctx: typer.Context,
    host: str = typer.Option(
        "127.0.0.1",
        "--host",
        help="Interface to listen on. Only this machine can connect to the default; "
        "binding another address without --auth prints a warning.",
    ),
    port: int = typer.Option(5000, "--port", "-p", min=1, max=65535, help="Port to listen on."),
    backend_store: str | None = typer.Option(
        None,
        "--backend-store",
        help="Metadata store: a database URL (sqlite:///…, postgresql+psycopg://…) or a folder "
        "holding .stackml. Default: the nearest .stackml.",
    ),
    artifacts: str | None = typer.Option(
        None,
        "--artifacts",
        help="Blob store: a folder or an fsspec URL such as s3://bucket/prefix. "
        "Default: the store's blobs/ folder.",
    ),
    auth: bool = typer.Option(
        False, "--auth", help="Require an API token (see `stackml token create`) on every route."
    ),
    log_level: str = typer.Option(
        "info", "--log-level", help="Server log level: critical, error, warning, info or debug."
    ),
) -> None:
    """Start the stackml server and keep it running until Ctrl-C."""
    from stackml.cli._store import cli_state
    from stackml.server.runner import serve

    warn_if_exposed(host, auth=auth)
    shown_host = f"[{host}]" if ":" in host else host
    stdout_console().print(
        f"stackml server on [bold]http://{shown_host}:{port}[/]"
        + (" (token required)" if auth else "")
        + " — press Ctrl-C to stop"
    )
    serve(
        host=host,
        port=port,
        backend_store=backend_store or cli_state(ctx).tracking_uri,
        artifacts=artifacts or cli_state(ctx).artifact_uri,
        auth=auth,
        log_level=log_level,
    )
