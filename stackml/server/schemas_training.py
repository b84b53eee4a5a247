"""Request and response bodies of the project baseline and metric-definition routes.

They mirror :mod:`stackml.store.training_base` field for field; the store validates values.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from stackml.server.schemas import Body
from stackml.store.training_base import Baseline, MetricDefinition

__all__ = ["BaselineIn", "BaselineOut", "DefinitionIn", "DefinitionOut"]


class BaselineIn(Body):
    kind: str
    metrics: dict[str, float]
    source: str = ""


class BaselineOut(BaseModel):
    project: str
    name: str
    kind: str
    metrics: dict[str, float]
    source: str
    created_at: int

    @classmethod
    def of(cls, b: Baseline) -> BaselineOut:
        return cls(
            project=b.project,
            name=b.name,
            kind=b.kind,
            metrics=b.metrics,
            source=b.source,
            created_at=b.created_at,
        )


class DefinitionIn(Body):
    kind: str
    spec: dict[str, Any] = Field(default_factory=dict)
    goal: str = "max"

    def to_definition(self) -> MetricDefinition:
        return MetricDefinition(self.kind, self.spec, self.goal)


class DefinitionOut(BaseModel):
    project: str
    kind: str
    spec: dict[str, Any]
    goal: str
    updated_at: int
    metrics: list[str]

    @classmethod
    def of(cls, d: MetricDefinition) -> DefinitionOut:
        return cls(
            project=d.project,
            kind=d.kind,
            spec=d.spec,
            goal=d.goal,
            updated_at=d.updated_at,
            metrics=list(d.metrics),
        )
