"""``stackml init``: create an embedded store in the current directory."""

from __future__ import annotations

from pathlib import Path

import typer

from stackml.cli._console import stdout_console


def register(app: typer.Typer) -> None:
    """Add ``init`` to the root application."""
    app.command("init")(init_store)


def init_store() -> None:
    """Create .stackml/ (database and blob folder) in the current directory."""
    from rich.text import Text

    from stackml.config import STORE_DIR
    from stackml.store import open_store

    store_dir = Path.cwd() / STORE_DIR
    existed = store_dir.is_dir()
    # Opening the store creates the database and applies migrations, so it is ready to use.
    open_store(str(store_dir)).close()
    message = "Store already initialised at" if existed else "Initialised an empty stackml store in"
    stdout_console().print(Text(f"{message} {store_dir}"))
