"""Request and response bodies of the labeling API (``/api/v1/label-projects`` and friends)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from pydantic import BaseModel, Field

from stackml.server.schemas import Body
from stackml.store.labeling_entities import (
    Annotation,
    LabelMember,
    LabelProgress,
    LabelProject,
    LabelTask,
    TaskDraft,
)


class LabelProjectOut(BaseModel):
    name: str
    description: str
    config: dict[str, Any]
    source: str | None
    created_by: str
    created_at: int

    @classmethod
    def of(cls, p: LabelProject) -> LabelProjectOut:
        return cls(
            name=p.name,
            description=p.description,
            config=p.config.to_dict(),
            source=p.source,
            created_by=p.created_by,
            created_at=p.created_at,
        )


class LabelProjectIn(Body):
    name: str
    config: dict[str, Any]
    description: str = ""
    source: str | None = None
    created_by: str = ""


class LabelProjectPatch(Body):
    config: dict[str, Any] | None = None
    description: str | None = None


class MemberOut(BaseModel):
    project: str
    user: str
    role: str

    @classmethod
    def of(cls, m: LabelMember) -> MemberOut:
        return cls(project=m.project, user=m.user, role=m.role)


class RoleIn(Body):
    role: str | None


class GroupIn(Body):
    users: list[str]


class TaskIn(Body):
    data: dict[str, Any]
    priority: float = 0.0
    source: str = ""
    key: str | None = None
    prelabel: dict[str, Any] | None = None
    gold: dict[str, Any] | None = None
    assignee: str | None = None

    def draft(self) -> TaskDraft:
        return TaskDraft(
            self.data, self.priority, self.source, self.key, self.prelabel, self.gold, self.assignee
        )


class TasksIn(Body):
    tasks: list[TaskIn] = Field(max_length=100_000)


class TaskIds(BaseModel):
    ids: list[int]


class TaskOut(BaseModel):
    id: int
    project: str
    key: str | None
    data: dict[str, Any]
    priority: float
    source: str
    prelabel: dict[str, Any] | None
    gold: dict[str, Any] | None
    assignee: str | None
    state: str
    done_count: int
    created_at: int
    lease_expires_at: int | None

    @classmethod
    def of(cls, t: LabelTask, *, hide_gold: bool = False) -> TaskOut:
        doc = asdict(t)
        if hide_gold:  # annotators must not see the known answer of a gold task
            doc["gold"] = None
        return cls.model_validate(doc)


class NextIn(Body):
    user: str | None = None
    limit: int = 1
    lease_s: float | None = None


class SkipIn(Body):
    user: str | None = None
    reason: str = "skipped"


class PrioritiesIn(Body):
    priorities: dict[int, float]


class AssignIn(Body):
    task_ids: list[int]
    assignee: str | None


class Count(BaseModel):
    count: int


class AnnotationIn(Body):
    user: str | None = None
    value: dict[str, Any]
    duration_ms: int | None = None
    origin: str = "human"
    model: str | None = None
    confidence: float | None = None
    audit: bool = False


class AnnotationOut(BaseModel):
    id: int
    task_id: int
    project: str
    user: str
    value: dict[str, Any]
    origin: str
    status: str
    created_at: int
    started_at: int | None
    duration_ms: int | None
    model: str | None
    confidence: float | None
    extra: bool
    comment: str
    reviewer: str | None
    reviewed_at: int | None

    @classmethod
    def of(cls, a: Annotation) -> AnnotationOut:
        return cls.model_validate(asdict(a))


class ReviewIn(Body):
    reviewer: str | None = None
    decision: str
    comment: str = ""
    value: dict[str, Any] | None = None


class ProgressOut(BaseModel):
    project: str
    total: int
    open: int
    leased: int
    done: int
    annotations: int
    submitted: int
    accepted: int
    rejected: int
    machine: int
    skipped: int
    per_user: dict[str, int]
    percent: float

    @classmethod
    def of(cls, p: LabelProgress) -> ProgressOut:
        return cls.model_validate({**asdict(p), "percent": p.percent})


class UploadOut(BaseModel):
    task_id: int
    hash: str
    width: int
    height: int
    media_type: str
