"""``stackml init [DIR]``: an embedded store here, or a new ML project scaffold in ``DIR``."""

from __future__ import annotations

from pathlib import Path

import typer

from stackml.cli._console import stdout_console


def register(app: typer.Typer) -> None:
    """Add ``init`` to the root application."""
    app.command("init")(init_store)


def init_store(
    directory: Path | None = typer.Argument(
        None,
        help="Scaffold a new ML project here (prediction, training and serving systems, "
        "tests, CI workflow and ML Test Score settings). Without it: only create a store in "
        "the current directory.",
    ),
) -> None:
    """Create a store in the current directory, or scaffold a new ML project in DIR.

    The new project's tests pass right away, on an untrained baseline model.
    """
    from rich.text import Text

    from stackml.config import STORE_DIR
    from stackml.store import open_store

    if directory is not None:
        from stackml.checks.scaffold import scaffold

        written = scaffold(directory)
        open_store(str(directory.absolute() / STORE_DIR)).close()
        console = stdout_console()
        console.print(Text(f"Scaffolded {len(written)} files in {directory.absolute()}:"))
        for path in written:
            console.print(Text(f"  {path.relative_to(directory.absolute())}"))
        console.print(Text(f"Next: cd {directory} && make install && make test"))
        return
    store_dir = Path.cwd() / STORE_DIR
    existed = store_dir.is_dir()
    # Opening the store creates the database and applies migrations, so it is ready to use.
    open_store(str(store_dir)).close()
    message = "Store already initialised at" if existed else "Initialised an empty stackml store in"
    stdout_console().print(Text(f"{message} {store_dir}"))
