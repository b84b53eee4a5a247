"""Sweeps: the part of the :class:`~stackml.store.base.MetadataStore` interface that keeps
sweeps and their trials (the Optuna study itself lives in Optuna's own tables).

A **sweep** is one hyperparameter search: its definition (a JSON document checked by
:mod:`stackml.tuning.spec`), the tracked parent run its trials nest under, the Optuna study
that samples and prunes, a budget of trial *slots* and a state. A **trial** row mirrors one
Optuna trial and links it to its child run, so listings work the same embedded and against a
server. A **round** records the search space a coarse-to-fine sweep used for one round.

Contract:
- :meth:`SweepStore.claim_trial_slot` is atomic: across processes and machines, each slot
  number below the budget is handed out exactly once (this is what keeps a resumed or
  parallel sweep from running more trials than asked);
- :meth:`SweepStore.add_sweep_round` keeps the first space recorded for a round and answers
  it to every later caller, so parallel agents agree on one narrowed space;
- ``get_*`` raise ``NotFound`` for what does not exist; bad input raises ``InvalidInput``;
- :meth:`SweepStore.finish_trial` records a trial's final metrics and its mirror row together
  (one transaction in SQL stores, so a finished trial costs the database one commit);
- :meth:`SweepStore.study_storage_url` answers the database URL Optuna's storage opens; a
  store that cannot share its database (the REST store) raises ``InvalidInput``.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from stackml._internal.timeutil import now_ms
from stackml.store.entities import MetricPoint

if TYPE_CHECKING:
    from stackml.store.base import MetadataStore

__all__ = [
    "SWEEP_STATES",
    "TRIAL_STATES",
    "Sweep",
    "SweepRound",
    "SweepStore",
    "SweepTrial",
]

SWEEP_STATES = ("running", "completed", "stopped", "failed")
TRIAL_STATES = ("running", "complete", "pruned", "fail", "waiting")


@dataclass(frozen=True)
class Sweep:
    """A hyperparameter sweep (immutable snapshot)."""

    id: str
    name: str
    project: str
    run_id: str
    method: str
    spec: dict[str, Any]
    state: str
    budget: int
    claimed: int
    created_at: int = 0
    updated_at: int = 0

    @property
    def study_name(self) -> str:
        """The name of the sweep's Optuna study."""
        return f"stackml-{self.id}"


@dataclass(frozen=True)
class SweepTrial:
    """One trial of a sweep as the store mirrors it (immutable snapshot)."""

    sweep_id: str
    number: int
    run_id: str
    state: str
    values: list[float] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    updated_at: int = 0


@dataclass(frozen=True)
class SweepRound:
    """The search space one round of a coarse-to-fine sweep sampled from."""

    sweep_id: str
    round: int
    space: dict[str, Any]
    created_at: int = 0


class SweepStore(abc.ABC):
    """Sweeps rows of the metadata store."""

    @abc.abstractmethod
    def create_sweep(
        self,
        name: str,
        *,
        project: str,
        run_id: str,
        method: str,
        spec: Mapping[str, Any],
        budget: int,
    ) -> Sweep:
        """Record a new sweep in state ``running``.

        Raises:
            AlreadyExists: The project has a sweep of that name.
            InvalidInput: A name, the method or the budget is not valid.
        """

    @abc.abstractmethod
    def get_sweep(self, sweep_id: str) -> Sweep:
        """A sweep by id, or by ``project/name``; raises ``NotFound``."""

    @abc.abstractmethod
    def list_sweeps(self, project: str | None = None) -> list[Sweep]:
        """Sweeps, newest first, optionally of one project."""

    @abc.abstractmethod
    def set_sweep_state(self, sweep_id: str, state: str) -> Sweep:
        """Move a sweep to one of :data:`SWEEP_STATES`."""

    @abc.abstractmethod
    def claim_trial_slot(self, sweep_id: str) -> int | None:
        """Atomically take the next trial slot; ``None`` when the budget is spent or the
        sweep is no longer running."""

    @abc.abstractmethod
    def record_trial(
        self,
        sweep_id: str,
        number: int,
        *,
        run_id: str,
        state: str,
        values: Sequence[float] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> SweepTrial:
        """Create or replace the mirror of trial ``number``."""

    def finish_trial(
        self,
        sweep_id: str,
        number: int,
        *,
        run_id: str,
        state: str,
        values: Sequence[float] | None = None,
        params: Mapping[str, Any] | None = None,
        metrics: Mapping[str, float] | None = None,
        timestamp: int | None = None,
    ) -> SweepTrial:
        """Log a finished trial's final ``metrics`` to its run and record its mirror row.

        Each metric is logged one step after the latest step stored for its key in the run
        (step 0 for a new key), at ``timestamp`` (default now, in ms). The run's status is
        left to the caller. This default makes the calls in turn; SQL stores override it with
        one transaction.
        """
        if metrics:
            store = cast("MetadataStore", self)
            known = store.get_run(run_id).metrics
            stamp = now_ms() if timestamp is None else timestamp
            points = [
                MetricPoint(k, float(v), known[k].latest_step + 1 if k in known else 0, stamp)
                for k, v in metrics.items()
            ]
            store.log_metrics(run_id, points)
        return self.record_trial(
            sweep_id, number, run_id=run_id, state=state, values=values, params=params
        )

    @abc.abstractmethod
    def list_sweep_trials(self, sweep_id: str) -> list[SweepTrial]:
        """The sweep's trials by number."""

    @abc.abstractmethod
    def add_sweep_round(self, sweep_id: str, round: int, space: Mapping[str, Any]) -> SweepRound:
        """Record the space of ``round`` unless one is recorded; answer the stored one."""

    @abc.abstractmethod
    def list_sweep_rounds(self, sweep_id: str) -> list[SweepRound]:
        """Recorded rounds, first round first."""

    @abc.abstractmethod
    def study_storage_url(self) -> str:
        """The database URL (with credentials) that Optuna's storage should open."""
