"""Pipelines: the part of the :class:`~stackml.store.base.MetadataStore` interface that keeps
pipelines, pipeline runs, step runs, the step cache, schedules and dataset triggers.

A *pipeline* row records where its code lives (``entrypoint``) and the shape of its DAG
(``spec``), so the CLI, the server's scheduler and an Airflow export can find and run it. A
*pipeline run* shares its id with the tracked run that stands for it; each *step run* points
at a child tracked run. The *cache* maps a step's content key to the blobs of its outputs.
Outputs travel as plain JSON mappings (``{"name", "materializer", "hash", ...}``): their
typed form lives in :mod:`stackml.pipelines`, above this layer.

Schedules and triggers are claimed with compare-and-set calls
(:meth:`PipelineStore.claim_schedule`, :meth:`PipelineStore.advance_trigger`), so two
schedulers watching one store never start the same run twice.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stackml.store.entities import Artifact, LineageEdge

__all__ = [
    "MISSED_POLICIES",
    "PIPELINE_RUN_STATES",
    "STEP_STATES",
    "CacheEntry",
    "DatasetTrigger",
    "FinishedRun",
    "PipelineInfo",
    "PipelineRunInfo",
    "PipelineStore",
    "PipelineWrites",
    "Schedule",
    "StartedRun",
    "StepRunInfo",
]

#: States of a pipeline run.
PIPELINE_RUN_STATES: tuple[str, ...] = ("running", "succeeded", "failed", "killed")
#: States of a step run; ``cached`` and ``resumed`` reuse outputs without running the step.
STEP_STATES: tuple[str, ...] = (
    "pending",
    "running",
    "succeeded",
    "cached",
    "resumed",
    "failed",
    "killed",
    "skipped",
)
#: What a schedule does with fire times missed while no scheduler ran.
MISSED_POLICIES: tuple[str, ...] = ("skip", "catch_up")


@dataclass(frozen=True)
class PipelineInfo:
    """A registered pipeline: where its code is and the shape of its DAG.

    Attributes:
        entrypoint: ``module:function`` or ``/path/file.py:function``.
        source_root: a folder put on ``sys.path`` before importing the entrypoint ("" none).
        spec: ``{"steps": [{"name", "function", "upstream", "executor", "cache"}, ...]}``.
    """

    name: str
    project: str
    entrypoint: str
    source_root: str = ""
    description: str = ""
    spec: Mapping[str, Any] = field(default_factory=dict)
    created_at: int = 0
    updated_at: int = 0


@dataclass(frozen=True)
class PipelineRunInfo:
    """One run of a pipeline; ``id`` is the id of the tracked run that stands for it."""

    id: str
    pipeline: str
    status: str = "running"
    trigger: str = "manual"
    params: Mapping[str, Any] = field(default_factory=dict)
    started_at: int = 0
    ended_at: int | None = None
    error: str = ""
    resumed_from: str | None = None


@dataclass(frozen=True)
class StepRunInfo:
    """One step of one pipeline run.

    ``outputs`` are ``{"name", "materializer", "hash", ...}`` mappings; ``run_id`` is the
    child tracked run; ``log_hash`` the blob of the step's captured output.
    """

    pipeline_run_id: str
    step: str
    status: str = "pending"
    run_id: str | None = None
    cache_key: str = ""
    cache_hit: bool = False
    started_at: int | None = None
    ended_at: int | None = None
    attempts: int = 0
    executor: str = "inprocess"
    upstream: tuple[str, ...] = ()
    outputs: tuple[Mapping[str, Any], ...] = ()
    log_hash: str | None = None
    error: str = ""


@dataclass(frozen=True)
class CacheEntry:
    """The outputs a step produced for one cache key."""

    key: str
    pipeline: str
    step: str
    outputs: tuple[Mapping[str, Any], ...] = ()
    run_id: str | None = None
    created_at: int = 0


@dataclass(frozen=True)
class Schedule:
    """A cron schedule of a pipeline (one per pipeline).

    ``policy`` is ``skip`` (fire once for the latest missed time) or ``catch_up`` (fire once
    for every missed time). ``next_fire_at`` is milliseconds since the epoch (UTC).
    """

    pipeline: str
    cron: str
    policy: str = "skip"
    enabled: bool = True
    next_fire_at: int = 0
    last_fire_at: int | None = None
    created_at: int = 0
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DatasetTrigger:
    """Run ``pipeline`` whenever dataset ``dataset`` gets a version newer than
    ``last_version`` (a version number)."""

    pipeline: str
    dataset: str
    last_version: int = 0
    created_at: int = 0


@dataclass(frozen=True)
class StartedRun:
    """A tracked child run to create, status ``running``, in the project, experiment and
    user of its parent: the run of a step about to execute. ``run_id`` is chosen by the
    caller (32 hex digits), so the step can be handed its run before the write returns;
    writing the same record again changes nothing."""

    run_id: str
    parent_id: str
    name: str
    start_time: int
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FinishedRun:
    """A tracked run to close: its final status (``completed``, ``failed``, ``killed``)."""

    run_id: str
    status: str
    end_time: int


@dataclass(frozen=True)
class PipelineWrites:
    """What a pipeline runner records about its steps, written in one transaction: the
    tracked runs it starts, step runs, cache entries, the step runs' artifacts and lineage
    edges, and the tracked runs it closes. Writing them together keeps the per-step cost of
    tracking low: one write per batch of steps started and finished."""

    steps: tuple[StepRunInfo, ...] = ()
    cache: tuple[CacheEntry, ...] = ()
    artifacts: tuple[Artifact, ...] = ()
    lineage: tuple[LineageEdge, ...] = ()
    finished_runs: tuple[FinishedRun, ...] = ()
    started_runs: tuple[StartedRun, ...] = ()

    def __bool__(self) -> bool:
        return bool(
            self.steps
            or self.cache
            or self.artifacts
            or self.lineage
            or self.finished_runs
            or self.started_runs
        )


class PipelineStore(abc.ABC):
    """Pipelines rows of the metadata store. Same thread-safety and error contract as the
    store: ``NotFound`` for unknown names and ids, ``InvalidInput`` for malformed fields."""

    # -- pipelines ------------------------------------------------------------------------
    @abc.abstractmethod
    def save_pipeline(self, info: PipelineInfo) -> PipelineInfo:
        """Create or update a pipeline (``created_at`` is kept on update)."""

    @abc.abstractmethod
    def get_pipeline(self, name: str) -> PipelineInfo:
        """One pipeline. Raises ``NotFound``."""

    @abc.abstractmethod
    def list_pipelines(self) -> list[PipelineInfo]:
        """Every pipeline, ordered by name."""

    # -- runs -----------------------------------------------------------------------------
    @abc.abstractmethod
    def create_pipeline_run(self, info: PipelineRunInfo) -> PipelineRunInfo:
        """Record a new pipeline run. Raises ``NotFound`` for an unknown pipeline and
        ``AlreadyExists`` for a taken id."""

    @abc.abstractmethod
    def update_pipeline_run(
        self,
        run_id: str,
        *,
        status: str | None = None,
        ended_at: int | None = None,
        error: str | None = None,
    ) -> PipelineRunInfo:
        """Change a run's status, end time or error. Raises ``NotFound``."""

    @abc.abstractmethod
    def get_pipeline_run(self, run_id: str) -> PipelineRunInfo:
        """One pipeline run. Raises ``NotFound``."""

    @abc.abstractmethod
    def list_pipeline_runs(
        self, pipeline: str | None = None, *, limit: int = 50
    ) -> list[PipelineRunInfo]:
        """Pipeline runs, newest first, optionally of one pipeline."""

    @abc.abstractmethod
    def save_step_runs(self, steps: Sequence[StepRunInfo]) -> None:
        """Create or replace step runs in one write (keyed by run id and step name).
        Raises ``NotFound`` when a pipeline run is unknown."""

    @abc.abstractmethod
    def write_pipeline_records(self, writes: PipelineWrites) -> None:
        """Apply every write of ``writes`` in one transaction (all or nothing). Started runs
        are created first, so the other records of the same write may refer to them.

        Raises ``NotFound`` for an unknown pipeline run or tracked run (a started run's
        parent included), ``InvalidInput`` for
        malformed records (the checks of the single-record methods apply).
        """

    @abc.abstractmethod
    def list_step_runs(self, pipeline_run_id: str) -> list[StepRunInfo]:
        """The step runs of a pipeline run, in the order they were first saved."""

    # -- cache ----------------------------------------------------------------------------
    @abc.abstractmethod
    def get_cache_entries(self, keys: Sequence[str]) -> dict[str, CacheEntry]:
        """The cache entries found for ``keys`` (missing keys are left out)."""

    @abc.abstractmethod
    def put_cache_entry(self, entry: CacheEntry) -> CacheEntry:
        """Store (or replace) the outputs of a cache key."""

    @abc.abstractmethod
    def delete_cache_entries(self, pipeline: str, step: str | None = None) -> int:
        """Forget the cached outputs of a pipeline (or one step); returns how many."""

    # -- schedules ------------------------------------------------------------------------
    @abc.abstractmethod
    def save_schedule(self, schedule: Schedule) -> Schedule:
        """Create or replace the schedule of a pipeline. Raises ``NotFound`` for an
        unknown pipeline and ``InvalidInput`` for a bad cron expression or policy."""

    @abc.abstractmethod
    def delete_schedule(self, pipeline: str) -> None:
        """Remove a pipeline's schedule. Raises ``NotFound`` if it has none."""

    @abc.abstractmethod
    def list_schedules(self) -> list[Schedule]:
        """Every schedule, ordered by pipeline name."""

    @abc.abstractmethod
    def claim_schedule(
        self, pipeline: str, expected_next: int, new_next: int, fired_at: int
    ) -> bool:
        """Move ``next_fire_at`` from ``expected_next`` to ``new_next`` if nobody else did;
        True when this caller won and should start the run."""

    # -- dataset triggers -----------------------------------------------------------------
    @abc.abstractmethod
    def save_trigger(self, trigger: DatasetTrigger) -> DatasetTrigger:
        """Create or replace a dataset trigger. Raises ``NotFound`` for an unknown pipeline."""

    @abc.abstractmethod
    def delete_trigger(self, pipeline: str, dataset: str) -> None:
        """Remove a trigger. Raises ``NotFound``."""

    @abc.abstractmethod
    def list_triggers(self, dataset: str | None = None) -> list[DatasetTrigger]:
        """Dataset triggers, optionally of one dataset."""

    @abc.abstractmethod
    def advance_trigger(self, pipeline: str, dataset: str, expected: int, new: int) -> bool:
        """Move ``last_version`` from ``expected`` to ``new`` if nobody else did."""
