"""Cron schedules and dataset-version triggers, and the loop that fires them.

Both live in the metadata store, so they survive restarts: ``stackml server`` runs a
:class:`Scheduler` that looks at the store every few seconds. A schedule keeps its next fire
time; a fire time that passed while no scheduler ran is handled by the schedule's policy:

* ``skip`` starts one run for the missed times, then goes on from now;
* ``catch_up`` starts one run per missed time (at most :data:`MAX_CATCH_UP`).

A dataset trigger keeps the number of the last version it reacted to; a newer version of the
dataset starts a run (``trigger="dataset:NAME@vN"``). Moving either marker is a
compare-and-set in the store, so two schedulers never start the same run twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from stackml.errors import InvalidInput, NotFound, StackmlError
from stackml.store.pipelines_base import MISSED_POLICIES, DatasetTrigger, Schedule

if TYPE_CHECKING:
    from stackml.store import Store

__all__ = [
    "MAX_CATCH_UP",
    "Scheduler",
    "add_trigger",
    "next_fire_time",
    "remove_trigger",
    "schedule",
    "unschedule",
]

logger = logging.getLogger(__name__)
MAX_CATCH_UP = 100
Clock = Callable[[], float]


def next_fire_time(cron: str, after_ms: int) -> int:
    """The first time strictly after ``after_ms`` that ``cron`` names (UTC, milliseconds)."""
    from croniter import croniter

    start = datetime.fromtimestamp(after_ms / 1000, tz=timezone.utc)
    nxt = croniter(cron, start).get_next(datetime)
    return int(nxt.timestamp() * 1000)


def _now_ms(clock: Clock) -> int:
    return int(clock() * 1000)


def schedule(
    store: Store,
    pipeline: str,
    cron: str,
    *,
    policy: str = "skip",
    params: Mapping[str, Any] | None = None,
    clock: Clock = time.time,
) -> Schedule:
    """Run ``pipeline`` on ``cron`` (replacing its schedule); the first fire is the next
    cron time from now. Raises ``InvalidInput`` for a bad expression or policy and
    ``NotFound`` for an unknown pipeline."""
    from stackml.store.sql.pipelines_store import check_cron

    cron = check_cron(cron)
    if policy not in MISSED_POLICIES:
        raise InvalidInput(f"policy must be one of {', '.join(MISSED_POLICIES)}")
    now = _now_ms(clock)
    return store.metadata.save_schedule(
        Schedule(
            pipeline, cron, policy, True, next_fire_time(cron, now), None, now, dict(params or {})
        )
    )


def unschedule(store: Store, pipeline: str) -> None:
    """Remove a pipeline's schedule. Raises ``NotFound`` if it has none."""
    store.metadata.delete_schedule(pipeline)


def add_trigger(store: Store, pipeline: str, dataset: str) -> DatasetTrigger:
    """Run ``pipeline`` whenever ``dataset`` gets a new version (from now on)."""
    try:
        latest = store.metadata.list_dataset_versions(dataset)
    except NotFound:
        latest = []
    last = max((v.number for v in latest), default=0)
    return store.metadata.save_trigger(DatasetTrigger(pipeline, dataset, last))


def remove_trigger(store: Store, pipeline: str, dataset: str) -> None:
    """Stop reacting to new versions of ``dataset``."""
    store.metadata.delete_trigger(pipeline, dataset)


Launch = Callable[[str, Mapping[str, Any], str], Any]


class Scheduler:
    """Fires due schedules and dataset triggers of one store.

    Args:
        store: where schedules, triggers and runs live.
        clock: seconds since the epoch (injectable for tests).
        poll_s: seconds between looks at the store when running in the background.
        launch: ``launch(pipeline, params, trigger)`` starts a run; default: a pipeline run
            in a small thread pool of this scheduler.
    """

    def __init__(
        self,
        store: Store,
        *,
        clock: Clock = time.time,
        poll_s: float = 5.0,
        launch: Launch | None = None,
        max_parallel_runs: int = 2,
    ) -> None:
        self.store = store
        self.clock = clock
        self.poll_s = poll_s
        self._launch = launch or self._run_in_pool
        self._pool = ThreadPoolExecutor(max_parallel_runs, thread_name_prefix="stackml-sched")
        self.futures: list[Future[Any]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- firing ---------------------------------------------------------------------------
    def tick(self) -> list[str]:
        """Fire what is due now; answer the triggers of the runs started (for logs/tests)."""
        started: list[str] = []
        now = _now_ms(self.clock)
        for item in self.store.metadata.list_schedules():
            if item.enabled and item.next_fire_at <= now:
                started += self._fire_schedule(item, now)
        for trigger in self.store.metadata.list_triggers():
            started += self._fire_trigger(trigger)
        return started

    def _fire_schedule(self, item: Schedule, now: int) -> list[str]:
        due = [item.next_fire_at]
        while len(due) < MAX_CATCH_UP:
            nxt = next_fire_time(item.cron, due[-1])
            if nxt > now:
                break
            due.append(nxt)
        new_next = next_fire_time(item.cron, max(now, due[-1]))
        if not self.store.metadata.claim_schedule(item.pipeline, item.next_fire_at, new_next, now):
            return []  # another scheduler fired it
        times = due if item.policy == "catch_up" else due[-1:]
        started = []
        for when in times:
            stamp = datetime.fromtimestamp(when / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M")
            label = f"schedule:{stamp}"
            self._launch(item.pipeline, item.params, label)
            started.append(label)
        return started

    def _fire_trigger(self, trigger: DatasetTrigger) -> list[str]:
        try:
            versions = self.store.metadata.list_dataset_versions(trigger.dataset)
        except NotFound:
            return []
        newest = max((v.number for v in versions), default=0)
        if newest <= trigger.last_version:
            return []
        if not self.store.metadata.advance_trigger(
            trigger.pipeline, trigger.dataset, trigger.last_version, newest
        ):
            return []
        label = f"dataset:{trigger.dataset}@v{newest}"
        self._launch(trigger.pipeline, {}, label)
        return [label]

    def _run_in_pool(self, pipeline: str, params: Mapping[str, Any], trigger: str) -> None:
        self.futures.append(self._pool.submit(self._run_one, pipeline, dict(params), trigger))

    def _run_one(self, pipeline: str, params: dict[str, Any], trigger: str) -> str | None:
        from stackml.pipelines.api import run_pipeline

        try:
            result = run_pipeline(pipeline, params=params, trigger=trigger, store=self.store)
        except (StackmlError, ImportError, OSError) as error:
            logger.error("scheduled run of %s (%s) could not start: %s", pipeline, trigger, error)
            return None
        logger.info("pipeline %s run %s (%s): %s", pipeline, result.run_id, trigger, result.status)
        return result.run_id

    def wait_idle(self, timeout: float = 60.0) -> list[str | None]:
        """Wait for the runs started so far; answer their run ids (None: could not start)."""
        done = [f.result(timeout=timeout) for f in self.futures]
        self.futures = []
        return done

    # -- background loop ------------------------------------------------------------------
    def start(self) -> Scheduler:
        """Tick every ``poll_s`` seconds in a daemon thread until :meth:`stop`."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._loop, name="stackml-scheduler", daemon=True
            )
            self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # a broken schedule must not stop the others for good
                logger.exception("pipeline scheduler tick failed")
            self._stop.wait(self.poll_s)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the loop and wait a little for runs in flight."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)
