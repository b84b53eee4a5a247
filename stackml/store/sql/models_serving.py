"""Rows of the serving capability: deployments, prediction-log chunks and feedback."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from stackml.store.sql.models import ID, NAME, SERIAL, Base


class DeploymentRow(Base):
    __tablename__ = "serving_deployments"

    name: Mapped[str] = mapped_column(NAME, primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    models: Mapped[list[Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    started_at: Mapped[int] = mapped_column(BigInteger)
    heartbeat_at: Mapped[int] = mapped_column(BigInteger)


class PredictionChunkRow(Base):
    __tablename__ = "serving_prediction_chunks"
    __table_args__ = (Index("ix_serving_chunks_deployment_end", "deployment", "end_ms"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    deployment: Mapped[str] = mapped_column(NAME)
    start_ms: Mapped[int] = mapped_column(BigInteger)
    end_ms: Mapped[int] = mapped_column(BigInteger)
    num_rows: Mapped[int] = mapped_column(Integer)
    parquet_hash: Mapped[str] = mapped_column(String(128))
    tensor_blob: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger)


class FeedbackRow(Base):
    __tablename__ = "serving_feedback"
    __table_args__ = (Index("ix_serving_feedback_request", "deployment", "request_id"),)

    id: Mapped[int] = mapped_column(SERIAL, primary_key=True, autoincrement=True)
    deployment: Mapped[str] = mapped_column(NAME)
    request_id: Mapped[str] = mapped_column(String(64))
    label: Mapped[str | None] = mapped_column(Text, nullable=True)
    flag: Mapped[str | None] = mapped_column(String(16), nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
