"""Commands of ``stackml models`` contributed by serving (package)."""

from __future__ import annotations

from pathlib import Path

import typer

from stackml.cli._console import stdout_console
from stackml.cli._store import opened_store


def add_commands(models_app: typer.Typer) -> None:
    """Add this module's commands to the ``stackml models`` group."""

    @models_app.command("package")
    def package(
        ctx: typer.Context,
        ref: str = typer.Argument(..., help="Model version: NAME@ALIAS, NAME@VERSION or NAME."),
        out: Path = typer.Argument(..., help="New directory to write (must be empty)."),
        k8s: bool = typer.Option(
            False, "--k8s", help="Also write Kubernetes manifests (Deployment, Service, HPA)."
        ),
        port: int = typer.Option(8080, "--port", min=1, max=65535, help="Port inside the image."),
        replicas: int = typer.Option(2, "--replicas", min=1, help="Replicas (and HPA minimum)."),
        drain_seconds: int = typer.Option(
            20, "--drain-seconds", min=0, help="Graceful drain on SIGTERM."
        ),
        cpu: str = typer.Option("1", "--cpu", help="CPU request per replica."),
        memory: str = typer.Option("1Gi", "--memory", help="Memory request and limit."),
    ) -> None:
        """Write a self-contained serving directory: model files, Dockerfile, pinned
        requirements and an entrypoint running `stackml serve` (plus k8s manifests)."""
        from stackml.serving.package import package_model

        with opened_store(ctx) as store:
            made = package_model(
                ref,
                out,
                store=store,
                k8s=k8s,
                port=port,
                replicas=replicas,
                drain_seconds=drain_seconds,
                cpu=cpu,
                memory=memory,
            )
        console = stdout_console()
        console.print(f"packaged [bold]{made.name}@{made.version}[/] into {made.path}")
        for file in made.files:
            console.print(f"  {file}")
        console.print(
            f"build: docker build -t {made.name}-serving {made.path}    "
            f"run here: {made.path}/entrypoint.sh"
        )
