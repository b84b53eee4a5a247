"""Immutable snapshots of stored entities.

Stores return these frozen dataclasses, never ORM rows, so callers cannot mutate the
database by accident and the REST and SQL stores return the same objects.
Times are integer milliseconds since the epoch (UTC).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class RunStatus(str, Enum):
    """Lifecycle of a run."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    KILLED = "killed"

    @property
    def is_terminal(self) -> bool:
        return self is not RunStatus.RUNNING


@dataclass(frozen=True)
class Project:
    """A namespace for experiments, runs and, later, datasets and models."""

    name: str
    description: str
    created_at: int


@dataclass(frozen=True)
class Experiment:
    """A group of runs inside a project (the ``default`` experiment always exists)."""

    id: str
    project: str
    name: str
    created_at: int
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MetricPoint:
    """One value of one metric at one step."""

    key: str
    value: float
    step: int
    timestamp: int


@dataclass(frozen=True)
class MetricColumns:
    """The points of one metric key as parallel columns: the bulk logging format.

    Writing columns skips building one object per point, which matters at a million
    points per second.
    """

    steps: Sequence[int]
    timestamps: Sequence[int]
    values: Sequence[float]

    def __len__(self) -> int:
        return len(self.values)

    @classmethod
    def group(cls, points: Iterable[MetricPoint]) -> dict[str, MetricColumns]:
        """Group points by key, keeping their order within each key."""
        points = list(points)
        return cls.from_flat(
            [p.key for p in points],
            [p.step for p in points],
            [p.timestamp for p in points],
            [p.value for p in points],
        )

    @classmethod
    def from_flat(
        cls,
        keys: Sequence[str],
        steps: Sequence[int],
        timestamps: Sequence[int],
        values: Sequence[float],
    ) -> dict[str, MetricColumns]:
        """Group four parallel columns (one entry per point) by key, keeping their order."""
        columns: dict[str, tuple[list[int], list[int], list[float]]] = {}
        for key, step, stamp, value in zip(keys, steps, timestamps, values, strict=True):
            cols = columns.get(key)
            if cols is None:
                cols = columns[key] = ([], [], [])
            cols[0].append(step)
            cols[1].append(stamp)
            cols[2].append(value)
        return {key: cls(*cols) for key, cols in columns.items()}

    def points(self, key: str) -> list[MetricPoint]:
        """These columns as points of metric ``key``."""
        return [
            MetricPoint(key, value, step, stamp)
            for step, stamp, value in zip(self.steps, self.timestamps, self.values, strict=True)
        ]


@dataclass(frozen=True)
class MetricSummary:
    """Fast access to a metric without reading its history."""

    key: str
    latest: float
    latest_step: int
    latest_timestamp: int
    min: float
    max: float
    count: int


@dataclass(frozen=True)
class Run:
    """A snapshot of a run: identity, status, params, tags and latest metric values."""

    id: str
    project: str
    experiment_id: str
    name: str
    status: RunStatus
    start_time: int
    end_time: int | None
    user: str
    parent_id: str | None
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, MetricSummary] = field(default_factory=dict)

    @property
    def duration_ms(self) -> int | None:
        """Wall time of the run, or ``None`` while it is running."""
        return None if self.end_time is None else self.end_time - self.start_time

    def metric(self, key: str) -> float | None:
        """Latest value of metric ``key``, or ``None``."""
        summary = self.metrics.get(key)
        return None if summary is None else summary.latest


@dataclass(frozen=True)
class RunPage:
    """One page of a run search; pass ``next_page_token`` back to get the next page."""

    runs: list[Run]
    next_page_token: str | None


@dataclass(frozen=True)
class Artifact:
    """A file logged by a run: a logical path inside the run pointing at a blob."""

    run_id: str
    path: str
    blob_hash: str
    size: int
    media_type: str
    created_at: int


@dataclass(frozen=True)
class LineageEdge:
    """A typed edge of the lineage graph: ``source`` played ``role`` for ``target``.

    Example: dataset version ``digits@v3`` was the ``input`` of run ``abc``:
    ``LineageEdge("dataset_version", "digits@v3", "run", "abc", "input")``.
    """

    source_type: str
    source_id: str
    target_type: str
    target_id: str
    role: str
    created_at: int = 0
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class User:
    """A person or service account."""

    name: str
    created_at: int
    is_admin: bool = False


@dataclass(frozen=True)
class ApiToken:
    """An API token's public record; the secret itself is shown once and stored hashed."""

    id: str
    user: str
    name: str
    prefix: str
    created_at: int
    last_used_at: int | None
    revoked: bool
