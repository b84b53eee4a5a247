"""Rows of the pipelines capability: pipelines, pipeline runs, step runs, the step cache,
schedules and dataset triggers (registered on the shared ``Base.metadata``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from stackml.store.sql.models import ID, LABEL, NAME, Base


class PipelineRow(Base):
    __tablename__ = "pipelines"

    name: Mapped[str] = mapped_column(NAME, primary_key=True)
    project: Mapped[str] = mapped_column(NAME)
    entrypoint: Mapped[str] = mapped_column(Text)
    source_root: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)


class PipelineRunRow(Base):
    __tablename__ = "pipeline_runs"
    __table_args__ = (Index("ix_pipeline_runs_pipeline_started", "pipeline", "started_at"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    pipeline: Mapped[str] = mapped_column(NAME)
    status: Mapped[str] = mapped_column(String(16))
    trigger: Mapped[str] = mapped_column(LABEL)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    started_at: Mapped[int] = mapped_column(BigInteger)
    ended_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    error: Mapped[str] = mapped_column(Text)
    resumed_from: Mapped[str | None] = mapped_column(ID, nullable=True)


class PipelineStepRunRow(Base):
    __tablename__ = "pipeline_step_runs"

    pipeline_run_id: Mapped[str] = mapped_column(ID, primary_key=True)
    step: Mapped[str] = mapped_column(NAME, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    run_id: Mapped[str | None] = mapped_column(ID, nullable=True)
    cache_key: Mapped[str] = mapped_column(String(128))
    cache_hit: Mapped[bool] = mapped_column(Boolean)
    started_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    ended_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer)
    executor: Mapped[str] = mapped_column(String(32))
    upstream: Mapped[list[str]] = mapped_column(JSON)
    outputs: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    log_hash: Mapped[str | None] = mapped_column(String(128), nullable=True)
    error: Mapped[str] = mapped_column(Text)


class PipelineCacheRow(Base):
    __tablename__ = "pipeline_cache"
    __table_args__ = (Index("ix_pipeline_cache_pipeline_step", "pipeline", "step"),)

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    pipeline: Mapped[str] = mapped_column(NAME)
    step: Mapped[str] = mapped_column(NAME)
    outputs: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    run_id: Mapped[str | None] = mapped_column(ID, nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger)


class PipelineScheduleRow(Base):
    __tablename__ = "pipeline_schedules"

    pipeline: Mapped[str] = mapped_column(NAME, primary_key=True)
    cron: Mapped[str] = mapped_column(String(128))
    policy: Mapped[str] = mapped_column(String(16))
    enabled: Mapped[bool] = mapped_column(Boolean)
    next_fire_at: Mapped[int] = mapped_column(BigInteger)
    last_fire_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)


class PipelineTriggerRow(Base):
    __tablename__ = "pipeline_triggers"

    pipeline: Mapped[str] = mapped_column(NAME, primary_key=True)
    dataset: Mapped[str] = mapped_column(NAME, primary_key=True)
    last_version: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(BigInteger)


__all__ = [
    "PipelineCacheRow",
    "PipelineRow",
    "PipelineRunRow",
    "PipelineScheduleRow",
    "PipelineStepRunRow",
    "PipelineTriggerRow",
]
