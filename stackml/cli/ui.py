"""``stackml ui``: open the web UI on the current store."""

from __future__ import annotations

import threading
import time
import webbrowser

import typer
from rich.text import Text

from stackml.cli._console import stdout_console
from stackml.cli._net import free_port


def register(app: typer.Typer) -> None:
    """Add ``ui`` to the root application."""
    app.command("ui")(open_ui)


def _open_when_up(url: str, host: str, port: int, timeout_s: float = 20.0) -> None:
    """Open the browser once the server accepts connections (not before: no error page)."""
    import socket

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                webbrowser.open(url)
                return
        except OSError:
            time.sleep(0.1)


def open_ui(
    ctx: typer.Context,
    port: int = typer.Option(
        0, "--port", "-p", min=0, max=65535, help="Port to listen on (0: pick a free one)."
    ),
    no_browser: bool = typer.Option(
        False, "--no-browser", help="Print the address without opening a browser."
    ),
) -> None:
    """Serve the web UI for the nearest store on 127.0.0.1 and open it in the browser.

    With a server as the tracking URI, that server already serves the UI: its address is
    opened instead.
    """
    from stackml.cli._store import cli_state
    from stackml.config import resolve_location

    state = cli_state(ctx)
    location = resolve_location(state.tracking_uri, state.artifact_uri)
    console = stdout_console()
    if location.kind == "rest":
        url = location.metadata_url.rstrip("/") + "/runs"
        console.print(Text.assemble("The web UI is served by ", (url, "bold")))
        if not no_browser:
            webbrowser.open(url)
        return

    from stackml.server.runner import serve

    host = "127.0.0.1"
    chosen = free_port(host, port)
    url = f"http://{host}:{chosen}/runs"
    console.print(
        Text.assemble("stackml UI on ", (url, "bold"), f" ({location.describe()}) — Ctrl-C to stop")
    )
    if not no_browser:
        threading.Thread(target=_open_when_up, args=(url, host, chosen), daemon=True).start()
    serve(
        host=host,
        port=chosen,
        backend_store=location.metadata_url,
        artifacts=location.blob_url,
        log_level="warning",
    )
