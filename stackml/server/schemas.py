"""Request and response bodies of the REST API (``/api/v1``).

The models mirror :mod:`stackml.store.entities` field for field, so a client can rebuild the
frozen dataclasses from plain JSON without importing the server. Floats that JSON cannot carry
(NaN and the infinities) travel as the strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``.
"""

from __future__ import annotations

import math
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

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

NonFinite = Literal["NaN", "Infinity", "-Infinity"]
#: A float as it travels in JSON: a number, or one of the three non-finite spellings.
WireFloat = Union[float, NonFinite]  # noqa: UP007 - evaluated at runtime by pydantic on 3.10


def encode_float(value: float) -> float | NonFinite:
    """A float JSON can carry: non-finite values become strings."""
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def decode_float(value: float | str) -> float:
    """The inverse of :func:`encode_float` (also accepts plain numbers)."""
    return float(value)


class Body(BaseModel):
    """Base of request bodies: unknown fields are refused, so typos fail loudly."""

    model_config = ConfigDict(extra="forbid")


# -- responses -------------------------------------------------------------------------------


class ProjectOut(BaseModel):
    name: str
    description: str
    created_at: int

    @classmethod
    def of(cls, project: Project) -> ProjectOut:
        return cls(
            name=project.name, description=project.description, created_at=project.created_at
        )


class ExperimentOut(BaseModel):
    id: str
    project: str
    name: str
    created_at: int
    tags: dict[str, str]

    @classmethod
    def of(cls, exp: Experiment) -> ExperimentOut:
        return cls(
            id=exp.id, project=exp.project, name=exp.name, created_at=exp.created_at, tags=exp.tags
        )


class MetricSummaryOut(BaseModel):
    key: str
    latest: WireFloat
    latest_step: int
    latest_timestamp: int
    min: WireFloat
    max: WireFloat
    count: int

    @classmethod
    def of(cls, s: MetricSummary) -> MetricSummaryOut:
        return cls(
            key=s.key,
            latest=encode_float(s.latest),
            latest_step=s.latest_step,
            latest_timestamp=s.latest_timestamp,
            min=encode_float(s.min),
            max=encode_float(s.max),
            count=s.count,
        )


class RunOut(BaseModel):
    id: str
    project: str
    experiment_id: str
    name: str
    status: RunStatus
    start_time: int
    end_time: int | None
    user: str
    parent_id: str | None
    params: dict[str, str]
    tags: dict[str, str]
    metrics: dict[str, MetricSummaryOut]

    @classmethod
    def of(cls, run: Run) -> RunOut:
        return cls(
            id=run.id,
            project=run.project,
            experiment_id=run.experiment_id,
            name=run.name,
            status=run.status,
            start_time=run.start_time,
            end_time=run.end_time,
            user=run.user,
            parent_id=run.parent_id,
            params=run.params,
            tags=run.tags,
            metrics={k: MetricSummaryOut.of(v) for k, v in run.metrics.items()},
        )


class RunPageOut(BaseModel):
    runs: list[RunOut]
    next_page_token: str | None


class MetricSeries(BaseModel):
    """Metric points in columns: far cheaper to encode and parse than one object per point."""

    keys: list[str]
    values: list[WireFloat]
    steps: list[int]
    timestamps: list[int]


class ArtifactOut(BaseModel):
    run_id: str
    path: str
    blob_hash: str
    size: int
    media_type: str
    created_at: int

    @classmethod
    def of(cls, a: Artifact) -> ArtifactOut:
        return cls(
            run_id=a.run_id,
            path=a.path,
            blob_hash=a.blob_hash,
            size=a.size,
            media_type=a.media_type,
            created_at=a.created_at,
        )


class LineageEdgeOut(BaseModel):
    source_type: str
    source_id: str
    target_type: str
    target_id: str
    role: str
    created_at: int
    properties: dict[str, Any]

    @classmethod
    def of(cls, e: LineageEdge) -> LineageEdgeOut:
        return cls(
            source_type=e.source_type,
            source_id=e.source_id,
            target_type=e.target_type,
            target_id=e.target_id,
            role=e.role,
            created_at=e.created_at,
            properties=e.properties,
        )


class UserOut(BaseModel):
    name: str
    created_at: int
    is_admin: bool

    @classmethod
    def of(cls, u: User) -> UserOut:
        return cls(name=u.name, created_at=u.created_at, is_admin=u.is_admin)


class TokenOut(BaseModel):
    id: str
    user: str
    name: str
    prefix: str
    created_at: int
    last_used_at: int | None
    revoked: bool

    @classmethod
    def of(cls, t: ApiToken) -> TokenOut:
        return cls(
            id=t.id,
            user=t.user,
            name=t.name,
            prefix=t.prefix,
            created_at=t.created_at,
            last_used_at=t.last_used_at,
            revoked=t.revoked,
        )


class CreatedToken(BaseModel):
    """A new token: ``secret`` is shown this once and cannot be retrieved again."""

    secret: str
    token: TokenOut


class Identity(BaseModel):
    user: UserOut | None


class Done(BaseModel):
    """Answer of a call that returns nothing else."""

    ok: bool = True


class Accepted(BaseModel):
    """Answer of a bulk write: how many items were written."""

    count: int


class BlobStored(BaseModel):
    hash: str
    size: int


class BlobList(BaseModel):
    hashes: list[str]


class BlobCheck(BaseModel):
    hash: str
    ok: bool


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    version: str
    checks: dict[str, str]


class ErrorDetail(BaseModel):
    type: str
    message: str


class ErrorOut(BaseModel):
    """Every error the API answers with has this shape."""

    error: ErrorDetail


# -- requests --------------------------------------------------------------------------------


class ProjectIn(Body):
    name: str
    description: str = ""


class ExperimentIn(Body):
    project: str
    name: str
    tags: dict[str, str] | None = None


class RunIn(Body):
    project: str
    experiment: str | None = None
    name: str | None = None
    user: str | None = None
    parent_id: str | None = None
    tags: dict[str, str] | None = None
    params: dict[str, str] | None = None
    start_time: int | None = None


class RunUpdate(Body):
    status: RunStatus | None = None
    end_time: int | None = None
    name: str | None = None


class RunSearch(Body):
    project: str | None = None
    experiment_ids: list[str] | None = None
    filter: str | None = None
    order_by: list[str] | None = None
    limit: int = Field(default=100, ge=1, le=50_000)
    page_token: str | None = None


class StringMap(Body):
    values: dict[str, str]


class MetricBatch(Body):
    """Metric points in columns; the four lists have the same length."""

    keys: list[str]
    values: list[WireFloat]
    steps: list[int]
    timestamps: list[int]


class ArtifactIn(Body):
    path: str
    blob_hash: str
    size: int = Field(ge=0)
    media_type: str = "application/octet-stream"
    created_at: int = 0


class LineageEdgeIn(Body):
    source_type: str
    source_id: str
    target_type: str
    target_id: str
    role: str
    created_at: int = 0
    properties: dict[str, Any] = Field(default_factory=dict)


class UserIn(Body):
    name: str
    is_admin: bool = False


class TokenIn(Body):
    name: str


class SecretIn(Body):
    secret: str
