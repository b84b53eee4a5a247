"""Run monitors on their schedule in a background thread (used by ``stackml server``).

Each tick also starts the retraining of label exports that no retraining has claimed yet
(:func:`stackml.monitoring.retrain.pending_retraining`), in a one-thread pool so a long
training run never holds up the monitors.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from stackml.errors import StackmlError
from stackml.monitoring.spec import MonitorSpec

if TYPE_CHECKING:
    from stackml.store import Store

__all__ = ["MonitorScheduler", "due_monitors"]

logger = logging.getLogger(__name__)


def due_monitors(store: Store, now_ms: int) -> list[str]:
    """Monitors with ``schedule_s > 0`` whose last run is at least that long ago."""
    due = []
    for monitor in store.metadata.list_monitors():
        every = int(monitor.spec.get("schedule_s") or 0)
        if every > 0 and (
            monitor.last_run_at is None or now_ms - monitor.last_run_at >= every * 1000
        ):
            due.append(monitor.name)
    return due


class MonitorScheduler:
    """Every ``poll_s`` seconds, run the monitors that are due; errors are logged, not raised."""

    def __init__(
        self,
        store: Store | Callable[[], Store],
        *,
        poll_s: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        # A callable is asked for the store on every tick (a server may swap its store).
        self._store = store
        self.poll_s = poll_s
        self.clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="stackml-monitors", daemon=True)
        self._retrain_pool = ThreadPoolExecutor(1, thread_name_prefix="stackml-retrain")
        #: Retraining runs started by this scheduler, as ``(monitor, dataset version, future)``.
        self.retrains: list[tuple[str, str, Future[Any]]] = []
        self.runs = 0

    def start(self) -> MonitorScheduler:
        """Start the background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop and wait for the thread."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        self._retrain_pool.shutdown(wait=False, cancel_futures=True)

    def tick(self) -> list[str]:
        """Run every due monitor once; returns their names."""
        from stackml.monitoring.service import run_monitor

        store = self._store() if callable(self._store) else self._store
        now = int(self.clock() * 1000)
        ran = []
        for name in due_monitors(store, now):
            try:
                MonitorSpec.from_dict(store.metadata.get_monitor(name).spec)
                run_monitor(name, store=store, now_ms=now)
                ran.append(name)
            except StackmlError as exc:
                logger.warning("monitor %s failed: %s", name, exc)
        self._start_retraining(store)
        self.runs += 1
        return ran

    def _start_retraining(self, store: Store) -> None:
        from stackml.monitoring.retrain import CLAIM_ROLE, pending_retraining, trigger_retraining
        from stackml.store.entities import LineageEdge

        for monitor, version in pending_retraining(store):
            # Claimed here, before the pool picks it up, so the next tick does not start it again.
            store.metadata.add_lineage(
                LineageEdge("dataset_version", version.ref, "monitor", monitor, CLAIM_ROLE)
            )
            logger.info("monitor %s: %s triggers retraining", monitor, version.label)
            future = self._retrain_pool.submit(
                self._retrain, trigger_retraining, store, monitor, version
            )
            self.retrains.append((monitor, version.label, future))

    @staticmethod
    def _retrain(trigger: Callable[..., Any], store: Store, monitor: str, version: Any) -> Any:
        try:
            return trigger(store, monitor, version)
        except Exception:
            logger.exception("retraining for monitor %s on %s failed", monitor, version.label)
            raise

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.tick()
            except Exception:  # keep the server's scheduler alive whatever one run does
                logger.exception("monitor scheduler tick failed")
