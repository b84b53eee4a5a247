"""``stackml serve``: serve registry models over HTTP (Open Inference Protocol v2 and /predict)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from stackml.cli._console import stderr_console, stdout_console
from stackml.cli._net import is_loopback


def register(app: typer.Typer) -> None:
    """Add ``serve`` to the root application."""
    app.command("serve")(serve)


def serve(
    ctx: typer.Context,
    refs: list[str] = typer.Argument(
        ..., help="Models to serve: NAME@ALIAS (e.g. digits@production), NAME@VERSION or NAME."
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8080, "--port", "-p", min=1, max=65535, help="Port to listen on."),
    workers: int = typer.Option(
        1, "--workers", min=1, max=64, help="Worker processes sharing the port (SO_REUSEPORT)."
    ),
    name: str | None = typer.Option(
        None, "--name", help="Deployment name in the store (default: the first model's name)."
    ),
    max_batch: int = typer.Option(64, "--max-batch", min=1, help="Most rows in one model call."),
    max_wait_ms: float = typer.Option(
        5.0, "--max-wait-ms", min=0, help="Longest a request waits for its batch to fill."
    ),
    slo_ms: float = typer.Option(
        100.0, "--slo-ms", min=0.1, help="Latency objective that adapts the batch size (AIMD)."
    ),
    concurrent_batches: int = typer.Option(
        1,
        "--concurrent-batches",
        min=1,
        help="Model calls in flight per model: the next batch runs while one computes.",
    ),
    model_threads: int = typer.Option(
        0,
        "--model-threads",
        min=0,
        help="Runtime threads per ONNX model call (0: the runtime's choice, every core).",
    ),
    max_queue: int = typer.Option(
        4096, "--max-queue", min=1, help="Rows allowed to wait per model; beyond: 503."
    ),
    canary: list[str] = typer.Option(
        [],
        "--canary",
        help="REF[:SHARE] answering a share of a model's traffic, e.g. "
        "digits@candidate:0.1 (repeatable; matched to the served model of the same name).",
    ),
    shadow: list[str] = typer.Option(
        [],
        "--shadow",
        help="REF receiving a mirror of the model's traffic; only its "
        "predictions are logged (repeatable).",
    ),
    log_rate: float = typer.Option(
        1.0, "--log-rate", min=0.0, max=1.0, help="Share of predictions logged for monitoring."
    ),
    no_log: bool = typer.Option(
        False, "--no-log", help="Log no predictions, record no deployment."
    ),
    timeout: float = typer.Option(30.0, "--timeout", min=0.01, help="Seconds per request."),
    max_body_mb: float = typer.Option(16.0, "--max-body-mb", min=0.001, help="Largest body (413)."),
    token: str | None = typer.Option(
        None, "--token", envvar="STACKML_SERVE_TOKEN", help="Require this bearer token."
    ),
    auth: bool = typer.Option(
        False,
        "--auth",
        help="Require a stackml API token (`stackml token create`) checked "
        "against the store, like `stackml server --auth`.",
    ),
    drain_seconds: float = typer.Option(
        20.0, "--drain-seconds", min=0, help="On SIGTERM, wait at most this long for requests."
    ),
    reload_seconds: float = typer.Option(
        5.0, "--reload-seconds", min=0.1, help="How often aliases are checked for hot reload."
    ),
    model_dir: Path | None = typer.Option(
        None,
        "--model-dir",
        help="Serve a packaged model directory (stackml models package) instead of the store.",
    ),
    trust: bool = typer.Option(False, "--trust", help="Allow pickle-based model formats."),
    reuse_port: bool = typer.Option(False, "--reuse-port", hidden=True),
) -> None:
    """Serve models with adaptive batching until SIGTERM or Ctrl-C (then drain gracefully)."""
    if workers > 1:
        _run_workers(workers)
        return
    from stackml.cli._store import cli_state
    from stackml.serving import (
        BatchPolicy,
        EndpointSpec,
        ServingOptions,
        ServingServer,
        registry_loader,
    )
    from stackml.serving.endpoint import model_name, parse_weighted

    canaries = dict(
        (model_name(ref), (ref, share)) for ref, share in (parse_weighted(c) for c in canary)
    )
    shadows = {model_name(ref): ref for ref in shadow}
    specs = []
    for ref in refs:
        key = model_name(ref)
        canary_ref, share = canaries.pop(key, (None, 0.0))
        specs.append(EndpointSpec(ref, canary_ref, share, shadows.pop(key, None)))
    if canaries or shadows:
        raise typer.BadParameter(
            f"--canary/--shadow for models not served: {sorted({*canaries, *shadows})}"
        )
    options = ServingOptions(
        policy=BatchPolicy(
            max_batch_rows=max_batch,
            max_wait_ms=max_wait_ms,
            slo_ms=slo_ms,
            max_queue_rows=max_queue,
            max_concurrent_batches=concurrent_batches,
        ),
        log_rate=0.0 if no_log else log_rate,
        request_timeout_s=timeout,
        max_body_bytes=int(max_body_mb * (1 << 20)),
        token=token,
        store_tokens=auth,
        record_deployment=not no_log,
        drain_seconds=drain_seconds,
        deployment=name,
        reload_seconds=reload_seconds,
    )
    if auth and model_dir is not None:
        raise typer.BadParameter(
            "--auth checks tokens against a store: use --token with --model-dir"
        )
    if token is None and not auth and not is_loopback(host):
        stderr_console().print(
            f"[yellow]warning:[/] serving on {host} without --token: anyone who can reach "
            "this machine can call the models."
        )
    store = None
    resolver = None
    threads = model_threads or None
    loader: Callable[[str], Any]
    if model_dir is not None:
        from stackml.serving.package import load_packaged

        folder = model_dir

        def packaged(ref: str) -> Any:
            return load_packaged(folder, trust=trust, threads=threads)

        loader = packaged
    else:
        from stackml.store import open_store

        state = cli_state(ctx)
        store = open_store(state.tracking_uri, state.artifact_uri)
        loader, resolver = registry_loader(store, trust=trust, threads=threads)
    store_for_logs = None if no_log and not auth else store
    server = ServingServer(
        specs,
        loader,
        options=options,
        resolver=resolver,
        store=store_for_logs,
        host=host,
        port=port,
        reuse_port=reuse_port,
    )
    shown = f"[{host}]" if ":" in host else host
    stdout_console().print(
        f"stackml serve {' '.join(refs)} on [bold]http://{shown}:{port}[/] "
        f"(v2: /v2/models/{specs[0].ref.split('@')[0]}/infer, docs: /docs) — Ctrl-C to stop"
    )
    try:
        server.run()
    finally:
        if store is not None:
            store.close()


def _run_workers(count: int) -> None:
    """Start ``count`` copies of this command on one port and forward stop signals."""
    argv = [a for a in sys.argv[1:] if not a.startswith("--workers")]
    if "--workers" in sys.argv:
        index = sys.argv.index("--workers")
        argv = sys.argv[1:index] + sys.argv[index + 2 :]
    entry = "import sys; from stackml.cli.main import main; sys.argv[0] = 'stackml'; main()"
    command = [sys.executable, "-c", entry, *argv, "--reuse-port"]
    children = [subprocess.Popen(command, env=dict(os.environ)) for _ in range(count)]

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    codes = [child.wait() for child in children]
    if any(codes):
        stderr_console().print(f"[red]a worker exited with {max(codes)}[/]")
        raise typer.Exit(1)
