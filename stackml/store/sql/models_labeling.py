"""Rows of the labeling capability: label projects, members and groups, tasks with leases,
skips and annotations.

The queue's hot path reads one partial index over the open tasks only:
``label_tasks (project, queue_rank, id, assignee) WHERE state = 'open'`` where ``queue_rank``
is ``-priority`` (so "highest priority, then oldest" is one ascending scan on every dialect,
and the assignment filter is answered from the index). A task leaves the index when its last
free slot is leased, so later state changes (leased to done) write no index page.
``open_slots`` counts the annotator slots still free on a task (``overlap`` minus live leases
minus counted annotations); ``state`` is ``open`` while a slot is free, ``leased`` while every
free slot is leased, ``done`` once ``overlap`` annotations count.

``label_counts`` keeps a project's progress figures (tasks per state, annotations per status,
per user...) as counters changed in the same transaction as the rows they count, so reading
progress costs a handful of rows whatever the project's size.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Double,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from stackml.store.sql.models import LABEL, NAME, SERIAL, Base

_PROJECT_FK = "label_projects.name"
_TASK_FK = "label_tasks.id"


class LabelProjectRow(Base):
    __tablename__ = "label_projects"

    name: Mapped[str] = mapped_column(NAME, primary_key=True)
    description: Mapped[str] = mapped_column(Text)
    task_type: Mapped[str] = mapped_column(String(32))
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    source: Mapped[str | None] = mapped_column(LABEL, nullable=True)
    created_by: Mapped[str] = mapped_column(LABEL)
    created_at: Mapped[int] = mapped_column(BigInteger)


class LabelMemberRow(Base):
    __tablename__ = "label_members"

    project: Mapped[str] = mapped_column(
        NAME, ForeignKey(_PROJECT_FK, ondelete="CASCADE"), primary_key=True
    )
    user: Mapped[str] = mapped_column(NAME, primary_key=True)
    role: Mapped[str] = mapped_column(String(16))


class LabelGroupRow(Base):
    __tablename__ = "label_groups"

    project: Mapped[str] = mapped_column(
        NAME, ForeignKey(_PROJECT_FK, ondelete="CASCADE"), primary_key=True
    )
    group: Mapped[str] = mapped_column(NAME, primary_key=True)
    user: Mapped[str] = mapped_column(NAME, primary_key=True)


class LabelTaskRow(Base):
    __tablename__ = "label_tasks"
    __table_args__ = (
        Index(
            "ix_label_tasks_open",
            "project",
            "queue_rank",
            "id",
            "assignee",
            sqlite_where=text("state = 'open'"),
            postgresql_where=text("state = 'open'"),
        ),
        Index("ix_label_tasks_project_id", "project", "id"),
    )

    id: Mapped[int] = mapped_column(SERIAL, primary_key=True, autoincrement=True)
    project: Mapped[str] = mapped_column(NAME, ForeignKey(_PROJECT_FK, ondelete="CASCADE"))
    key: Mapped[str | None] = mapped_column(LABEL, nullable=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    priority: Mapped[float] = mapped_column(Double)
    queue_rank: Mapped[float] = mapped_column(Double)
    source: Mapped[str] = mapped_column(LABEL)
    # None is SQL NULL (not a JSON "null"), which also spares encoding it on bulk imports.
    prelabel: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    gold: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    assignee: Mapped[str | None] = mapped_column(String(130), nullable=True)
    state: Mapped[str] = mapped_column(String(16))
    done_count: Mapped[int] = mapped_column(Integer)
    open_slots: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[int] = mapped_column(BigInteger)


class LabelLeaseRow(Base):
    __tablename__ = "label_leases"
    __table_args__ = (Index("ix_label_leases_project_expires", "project", "expires_at"),)

    task_id: Mapped[int] = mapped_column(
        SERIAL, ForeignKey(_TASK_FK, ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    user: Mapped[str] = mapped_column(NAME, primary_key=True)
    project: Mapped[str] = mapped_column(NAME)
    started_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger)


class LabelSkipRow(Base):
    __tablename__ = "label_skips"
    __table_args__ = (Index("ix_label_skips_project", "project"),)

    task_id: Mapped[int] = mapped_column(
        SERIAL, ForeignKey(_TASK_FK, ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    user: Mapped[str] = mapped_column(NAME, primary_key=True)
    project: Mapped[str] = mapped_column(NAME)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[int] = mapped_column(BigInteger)


class LabelAnnotationRow(Base):
    __tablename__ = "label_annotations"
    __table_args__ = (
        Index("ix_label_annotations_task_user", "task_id", "user"),
        Index("ix_label_annotations_project_id", "project", "id"),
    )

    id: Mapped[int] = mapped_column(SERIAL, primary_key=True, autoincrement=True)
    task_id: Mapped[int] = mapped_column(SERIAL, ForeignKey(_TASK_FK, ondelete="CASCADE"))
    project: Mapped[str] = mapped_column(NAME)
    user: Mapped[str] = mapped_column(NAME)
    value: Mapped[dict[str, Any]] = mapped_column(JSON)
    origin: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    counted: Mapped[bool] = mapped_column(Boolean)
    extra: Mapped[bool] = mapped_column(Boolean)
    model: Mapped[str | None] = mapped_column(LABEL, nullable=True)
    confidence: Mapped[float | None] = mapped_column(Double, nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    started_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    duration_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    comment: Mapped[str] = mapped_column(Text)
    reviewer: Mapped[str | None] = mapped_column(NAME, nullable=True)
    reviewed_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class LabelCountRow(Base):
    __tablename__ = "label_counts"

    project: Mapped[str] = mapped_column(
        NAME, ForeignKey(_PROJECT_FK, ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    # Writers on PostgreSQL spread over shards so that concurrent claims do not queue on one
    # counter row; readers sum the shards.
    shard: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    n: Mapped[int] = mapped_column(BigInteger)
