"""Turn result rows into the frozen entities of :mod:`stackml.store.entities`."""

from __future__ import annotations

import math
from typing import Any, cast

from sqlalchemy import Table

from stackml.store.entities import (
    ApiToken,
    Artifact,
    Experiment,
    LineageEdge,
    MetricSummary,
    Project,
    Run,
    RunStatus,
    User,
)
from stackml.store.sql import models

PROJECTS: Table = cast(Table, models.ProjectRow.__table__)
EXPERIMENTS: Table = cast(Table, models.ExperimentRow.__table__)
EXPERIMENT_TAGS: Table = cast(Table, models.ExperimentTagRow.__table__)
RUNS: Table = cast(Table, models.RunRow.__table__)
PARAMS: Table = cast(Table, models.ParamRow.__table__)
TAGS: Table = cast(Table, models.TagRow.__table__)
CHUNKS: Table = cast(Table, models.MetricChunkRow.__table__)
LATEST: Table = cast(Table, models.LatestMetricRow.__table__)
ARTIFACTS: Table = cast(Table, models.ArtifactRow.__table__)
EDGES: Table = cast(Table, models.LineageEdgeRow.__table__)
USERS: Table = cast(Table, models.UserRow.__table__)
TOKENS: Table = cast(Table, models.ApiTokenRow.__table__)


def nan_if_null(value: float | None) -> float:
    """NULL stands for NaN in float columns (SQLite cannot store NaN)."""
    return math.nan if value is None else float(value)


def project(row: Any) -> Project:
    return Project(name=row.name, description=row.description, created_at=row.created_at)


def experiment(row: Any, tags: dict[str, str] | None = None) -> Experiment:
    return Experiment(
        id=row.id,
        project=row.project,
        name=row.name,
        created_at=row.created_at,
        tags=dict(tags or {}),
    )


def summary(row: Any) -> MetricSummary:
    return MetricSummary(
        key=row.key,
        latest=nan_if_null(row.value),
        latest_step=row.step,
        latest_timestamp=row.timestamp,
        min=nan_if_null(row.min_value),
        max=nan_if_null(row.max_value),
        count=row.count,
    )


def run(
    row: Any,
    params: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
    metrics: dict[str, MetricSummary] | None = None,
) -> Run:
    return Run(
        id=row.id,
        project=row.project,
        experiment_id=row.experiment_id,
        name=row.name,
        status=RunStatus(row.status),
        start_time=row.start_time,
        end_time=row.end_time,
        user=row.user,
        parent_id=row.parent_id,
        params=dict(params or {}),
        tags=dict(tags or {}),
        metrics=dict(metrics or {}),
    )


def artifact(row: Any) -> Artifact:
    return Artifact(
        run_id=row.run_id,
        path=row.path,
        blob_hash=row.blob_hash,
        size=row.size,
        media_type=row.media_type,
        created_at=row.created_at,
    )


def edge(row: Any) -> LineageEdge:
    return LineageEdge(
        source_type=row.source_type,
        source_id=row.source_id,
        target_type=row.target_type,
        target_id=row.target_id,
        role=row.role,
        created_at=row.created_at,
        properties=dict(row.properties or {}),
    )


def user(row: Any) -> User:
    return User(name=row.name, created_at=row.created_at, is_admin=bool(row.is_admin))


def token(row: Any) -> ApiToken:
    return ApiToken(
        id=row.id,
        user=row.user,
        name=row.name,
        prefix=row.prefix,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked=bool(row.revoked),
    )
