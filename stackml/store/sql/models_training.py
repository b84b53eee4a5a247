"""SQLAlchemy rows of the training capability (registered on the shared ``Base.metadata``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from stackml.store.sql.models import NAME, Base


class BaselineRow(Base):
    __tablename__ = "baselines"

    project: Mapped[str] = mapped_column(NAME, primary_key=True)
    name: Mapped[str] = mapped_column(NAME, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(Text)
    created_at: Mapped[int] = mapped_column(BigInteger)


class MetricDefinitionRow(Base):
    __tablename__ = "metric_definitions"

    project: Mapped[str] = mapped_column(NAME, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    goal: Mapped[str] = mapped_column(String(8))
    updated_at: Mapped[int] = mapped_column(BigInteger)
