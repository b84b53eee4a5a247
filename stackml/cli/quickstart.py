"""``stackml quickstart``: run the end-to-end demo, then serve its store."""

from __future__ import annotations

from pathlib import Path

import typer

from stackml.cli._console import stdout_console
from stackml.cli._net import free_port, warn_if_exposed


def register(app: typer.Typer) -> None:
    """Add ``quickstart`` to the root application."""
    app.command("quickstart")(run_quickstart)


def run_quickstart(
    directory: Path = typer.Option(
        Path("stackml-quickstart"),
        "--dir",
        "-d",
        help="Folder the quickstart works in; its store is <dir>/.stackml.",
        file_okay=False,
    ),
    no_serve: bool = typer.Option(
        False, "--no-serve", help="Stop after the stages instead of starting the server."
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface the server listens on."),
    port: int = typer.Option(
        5000,
        "--port",
        "-p",
        min=0,
        max=65535,
        help="Port for the server; a free one is picked if it is taken.",
    ),
    until: str | None = typer.Option(
        None,
        "--until",
        help="Stop after this stage (e.g. baseline, registry, serving); default: run them all.",
    ),
) -> None:
    """Run the whole ML loop on the bundled digits, then serve the results.

    Version data, train, sweep, register, gate, serve, monitor drift, label and retrain: offline,
    on data that ships with scikit-learn, in its own folder and store.
    """
    from rich.text import Text

    from stackml import quickstart

    console = stdout_console()
    console.print(Text(f"stackml quickstart in {directory.expanduser().resolve()}", style="bold"))
    stages = None
    if until is not None:
        from stackml.errors import InvalidInput
        from stackml.quickstart.stages import default_stages

        stages = default_stages()
        names = [stage.name for stage in stages]
        if until not in names:
            raise InvalidInput(f"--until must name a stage: {', '.join(names)}")
        stages = stages[: names.index(until) + 1]
    report = quickstart.run_quickstart(directory, console=console, stages=stages)
    console.print(quickstart.summary_table(report))

    baseline = report.results.get("baseline")
    if baseline is not None:
        metrics = baseline.metrics
        console.print(
            Text(
                f"Baseline run {baseline.run_id}: accuracy train "
                f"{metrics['train_accuracy']:.3f}, val {metrics['val_accuracy']:.3f}, "
                f"test {metrics['test_accuracy']:.3f}"
            )
        )
    console.print(Text(f"Store: {report.store_dir}"))
    console.print(
        Text(
            f"Explore: cd {report.workdir} && stackml runs ls "
            "(or set STACKML_TRACKING_URI to that folder)",
            style="dim",
        )
    )
    if no_serve:
        return

    from stackml.config import embedded_location
    from stackml.server.runner import serve

    warn_if_exposed(host, auth=False)
    chosen = free_port(host, port)
    if port and chosen != port:
        console.print(Text(f"Port {port} is taken; using {chosen} instead.", style="yellow"))
    location = embedded_location(report.store_dir)
    shown_host = f"[{host}]" if ":" in host else host
    console.print(
        Text.assemble(
            "Open ",
            (f"http://{shown_host}:{chosen}", "bold"),
            " to browse the runs; press Ctrl-C to stop.",
        )
    )
    serve(
        host=host,
        port=chosen,
        backend_store=location.metadata_url,
        artifacts=location.blob_url,
        auth=False,
    )
