"""Request and response bodies of the deployment, prediction-chunk and feedback routes.

They mirror :mod:`stackml.store.serving_base` field for field; the store validates values.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from stackml.server.schemas import Body
from stackml.store.serving_base import Deployment, Feedback, PredictionChunk

__all__ = [
    "ChunkIn",
    "ChunkOut",
    "DeploymentIn",
    "DeploymentOut",
    "FeedbackIn",
    "FeedbackOut",
    "FeedbackQuery",
]


class DeploymentIn(Body):
    url: str
    models: list[dict[str, Any]]
    status: str
    config: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)


class DeploymentOut(BaseModel):
    name: str
    url: str
    models: list[dict[str, Any]]
    status: str
    config: dict[str, Any]
    metrics: dict[str, Any]
    started_at: int
    heartbeat_at: int

    @classmethod
    def of(cls, d: Deployment) -> DeploymentOut:
        return cls(
            name=d.name,
            url=d.url,
            models=[dict(m) for m in d.models],
            status=d.status,
            config=dict(d.config),
            metrics=dict(d.metrics),
            started_at=d.started_at,
            heartbeat_at=d.heartbeat_at,
        )


class ChunkIn(Body):
    start_ms: int
    end_ms: int
    num_rows: int
    parquet_hash: str
    tensor_blob: str | None = None


class ChunkOut(BaseModel):
    id: str
    deployment: str
    start_ms: int
    end_ms: int
    num_rows: int
    parquet_hash: str
    tensor_blob: str | None
    created_at: int

    @classmethod
    def of(cls, c: PredictionChunk) -> ChunkOut:
        return cls(**c.__dict__)


class FeedbackIn(Body):
    request_id: str
    label: str | None = None
    flag: str | None = None


class FeedbackQuery(Body):
    request_ids: list[str] | None = None
    since_ms: int | None = None
    limit: int | None = None


class FeedbackOut(BaseModel):
    id: int
    deployment: str
    request_id: str
    label: str | None
    flag: str | None
    created_at: int

    @classmethod
    def of(cls, f: Feedback) -> FeedbackOut:
        return cls(**f.__dict__)
