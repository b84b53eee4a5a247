"""Run a serving app under uvicorn: graceful SIGTERM drain, and a heartbeat that records the
deployment (models, split, URL, live metrics) in the metadata store.

On SIGTERM (or SIGINT) the server stops being ready at once, answers new requests with 503
(``Connection: close``), waits for accepted requests to finish (at most ``drain_seconds``),
flushes the prediction log and exits. Its last line on stderr says how many requests it
accepted and completed.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import sys
import threading
import time
from collections.abc import Coroutine, Sequence
from typing import Any

import uvicorn

from stackml.serving.app import create_serving_app
from stackml.serving.endpoint import EndpointSpec, Loader, Resolver
from stackml.serving.runtime import ServingOptions, ServingRuntime

__all__ = ["ServingServer", "registry_loader"]

logger = logging.getLogger(__name__)


def registry_loader(
    store: Any, *, trust: bool = False, threads: int | None = None
) -> tuple[Loader, Resolver]:
    """A loader and resolver backed by the model registry of ``store``; ``threads`` caps
    each model call's runtime threads (ONNX Runtime's intra-op threads; ``None``: its choice)."""
    import importlib

    registry = importlib.import_module("stackml.registry")
    load = getattr(registry, "load", None)
    resolve = getattr(registry, "resolve", None)
    if load is None or resolve is None:
        raise RuntimeError("this stackml has no model registry loader (stackml.registry.load)")

    def loader(ref: str) -> Any:
        return load(ref, store=store, trust=trust, threads=threads)

    def resolver(ref: str) -> tuple[str, int]:
        name, version = resolve(ref, store)
        return str(name), int(version)

    return loader, resolver


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers: ours drain first."""

    def install_signal_handlers(self) -> None:
        return


def _run_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run ``main`` on uvloop where it is installed (what uvicorn itself would pick: its
    sockets and timers cost a fraction of asyncio's on the request path), else on asyncio."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    uvloop.run(main)


class ServingServer:
    """One serving process: the app, uvicorn, the drain and the heartbeat."""

    def __init__(
        self,
        specs: Sequence[EndpointSpec],
        loader: Loader,
        *,
        options: ServingOptions | None = None,
        resolver: Resolver | None = None,
        store: Any = None,
        host: str = "127.0.0.1",
        port: int = 8080,
        reuse_port: bool = False,
    ) -> None:
        self.runtime = ServingRuntime(
            specs, loader, options=options, resolver=resolver, store=store
        )
        self.host = host
        self.port = port
        self.reuse_port = reuse_port
        self.app = create_serving_app(self.runtime)
        config = uvicorn.Config(
            self.app,
            host=host,
            port=port,
            log_level="warning",
            timeout_graceful_shutdown=max(1, int(self.runtime.options.drain_seconds)),
            backlog=2048,
            timeout_keep_alive=75,
            # Both cost CPU on every request and nothing here needs them: the metrics count
            # every request, and nothing reads the client's address.
            access_log=False,
            proxy_headers=False,
        )
        self.server = _Server(config)
        self.runtime.metrics.connections = lambda: len(self.server.server_state.connections)
        self._stop_heartbeat = threading.Event()
        self._drain_started = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread()

    @property
    def url(self) -> str:
        """Where the server listens."""
        return f"http://{self.host}:{self.port}"

    async def drain(self) -> None:
        """Stop taking requests, wait for accepted ones (bounded), then exit."""
        if self._drain_started:
            self.server.force_exit = True
            return
        self._drain_started = True
        runtime = self.runtime
        runtime.draining = True
        logger.warning("draining: waiting for %d requests", runtime.in_flight)
        deadline = time.monotonic() + runtime.options.drain_seconds
        while runtime.in_flight > 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        self.server.should_exit = True

    def run(self) -> None:
        """Serve until SIGTERM/SIGINT; blocks."""
        _run_loop(self._main())

    def start_in_thread(self, timeout: float = 30.0) -> ServingServer:
        """Serve from a background thread (no signal handling); returns once listening."""
        self._thread = threading.Thread(
            target=lambda: _run_loop(self._main(signals=False)), daemon=True, name="serving"
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"the serving app did not start on {self.url}")
            time.sleep(0.02)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Drain and stop a server started with :meth:`start_in_thread`."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            asyncio.run_coroutine_threadsafe(self.drain(), loop)
        self._thread.join(timeout)

    async def _main(self, signals: bool = True) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        if signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, lambda: loop.create_task(self.drain()))
        heartbeat = threading.Thread(target=self._heartbeat, daemon=True, name="heartbeat")
        heartbeat.start()
        try:
            await self.server.serve(sockets=[self._socket()] if self.reuse_port else None)
        finally:
            self._stop_heartbeat.set()
            heartbeat.join(5)
            self._record("stopped")
            runtime = self.runtime
            print(
                f"stackml serve: stopped; {runtime.accepted} requests accepted, "
                f"{runtime.completed} completed, {runtime.refused_draining} refused while draining",
                file=sys.stderr,
                flush=True,
            )

    def _socket(self) -> socket.socket:
        """A listening socket shared with sibling workers (the kernel spreads connections)."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((self.host, self.port))
        sock.listen(2048)
        sock.set_inheritable(True)
        return sock

    def _status(self) -> str:
        if self.runtime.draining:
            return "draining"
        ok, _ = self.runtime.readiness()
        return "ready" if ok else "not-ready"

    def _record(self, status: str) -> None:
        store = self.runtime.store
        if store is None or not self.runtime.options.record_deployment:
            return
        runtime = self.runtime
        ok, reason = runtime.readiness()
        options = runtime.options
        try:
            store.metadata.record_deployment(
                runtime.deployment,
                url=self.url,
                models=runtime.describe_models(),
                status=status,
                config={
                    "max_batch_rows": options.policy.max_batch_rows,
                    "max_wait_ms": options.policy.max_wait_ms,
                    "slo_ms": options.policy.slo_ms,
                    "log_rate": options.log_rate,
                    "reason": "" if ok else reason,
                },
                metrics=runtime.live_metrics(),
            )
        except Exception as exc:
            logger.warning("could not record the deployment: %s", exc)

    def _heartbeat(self) -> None:
        self._record("starting")
        while not self._stop_heartbeat.wait(self.runtime.options.heartbeat_seconds):
            self._record(self._status())
