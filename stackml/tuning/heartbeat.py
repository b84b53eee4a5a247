"""Heartbeats of an agent's trials, and the reaper that fails trials whose agent died.

Optuna's own mechanism (``heartbeat_interval`` on ``RDBStorage``, used by ``Study.optimize``)
starts and joins a thread for every trial, records a heartbeat as each trial starts and scans
the study for stale trials before every trial. For short trials that bookkeeping costs more
than the trial. An agent does the same job with less:

- :class:`AgentHeartbeat`: one thread for the agent's whole life. Every ``heartbeat_s``
  seconds it records a heartbeat (Optuna's ``record_heartbeat``, in Optuna's heartbeat
  table) for each trial the agent is running. A trial that ends before the next tick costs
  nothing.
- :class:`Reaper`: between trials, at most every ``heartbeat_s`` seconds (and whenever an
  agent waits for the last trials of a sweep), it fails the running trials whose heartbeat is
  older than ``grace_s`` through Optuna's ``fail_stale_trials``, which runs the storage's
  stale-trial callback (the trial's run is marked failed, the trial re-queued under the retry
  policy). A running trial of another agent seen for the first time gets a heartbeat from
  the reaper: a trial whose agent died before its first tick then has one too, and is failed
  ``grace_s`` later instead of staying ``RUNNING`` for ever.

A live trial is never failed: it is touched at least every ``heartbeat_s`` seconds, and
``grace_s`` is longer than ``heartbeat_s`` (the sweep definition enforces it). Storage without
heartbeats (the in-memory study of tests and notebooks) needs neither, and both do nothing.
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna

__all__ = ["AgentHeartbeat", "Reaper", "heartbeat_enabled"]

logger = logging.getLogger(__name__)


def heartbeat_enabled(storage: Any) -> bool:
    """Whether ``storage`` keeps trial heartbeats (an ``RDBStorage`` with an interval)."""
    from optuna.storages._heartbeat import is_heartbeat_enabled

    return bool(is_heartbeat_enabled(storage))


class AgentHeartbeat:
    """One thread that keeps the agent's running trials alive in the study's storage."""

    def __init__(self, storage: Any, interval_s: float) -> None:
        self._storage = storage
        self._interval_s = interval_s
        self._trials: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread (nothing to do for storage without heartbeats)."""
        if self._thread is not None or not heartbeat_enabled(self._storage):
            return
        self._thread = threading.Thread(
            target=self._beat, name="stackml-sweep-heartbeat", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread; trials still registered are no longer kept alive."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def add(self, trial_id: int) -> None:
        """Keep ``trial_id`` (Optuna's trial id, not its number) alive from now on."""
        with self._lock:
            self._trials.add(trial_id)

    def discard(self, trial_id: int) -> None:
        """Stop keeping ``trial_id`` alive (it finished)."""
        with self._lock:
            self._trials.discard(trial_id)

    def trial_ids(self) -> frozenset[int]:
        """The trials kept alive now."""
        with self._lock:
            return frozenset(self._trials)

    def beat(self) -> None:
        """Record a heartbeat for every trial kept alive (what each tick does)."""
        for trial_id in self.trial_ids():
            try:
                self._storage.record_heartbeat(trial_id)
            except Exception:  # a busy or unreachable database: the next tick tries again
                logger.warning("could not record the heartbeat of trial id %s", trial_id)

    def _beat(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.beat()


class Reaper:
    """Fails the study's trials whose heartbeat stopped; cheap enough to call between trials."""

    def __init__(self, study: optuna.Study, heartbeat: AgentHeartbeat, every_s: float) -> None:
        self._study = study
        self._heartbeat = heartbeat
        self._every_s = every_s
        self._next = 0.0
        self._seen: set[int] = set()

    def maybe_reap(self) -> None:
        """:meth:`reap`, unless it ran less than ``every_s`` seconds ago."""
        if time.monotonic() >= self._next:
            self.reap()

    def reap(self) -> None:
        """Fail stale trials now; give a first heartbeat to running trials seen for the
        first time."""
        import optuna
        from optuna.trial import TrialState

        self._next = time.monotonic() + self._every_s
        storage: Any = self._study._storage  # Optuna's heartbeat API is not on BaseStorage
        if not heartbeat_enabled(storage):
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(self._study)
        ours = self._heartbeat.trial_ids()
        running = storage.get_all_trials(
            self._study._study_id, deepcopy=False, states=(TrialState.RUNNING,)
        )
        for trial in running:
            trial_id = trial._trial_id
            if trial_id in self._seen or trial_id in ours:
                continue
            self._seen.add(trial_id)
            try:
                storage.record_heartbeat(trial_id)
            except Exception:
                logger.warning("could not record a first heartbeat for trial %s", trial.number)
