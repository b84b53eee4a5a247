"""Rows of the monitoring capability: monitors, results, alert events and routed items."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Double, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from stackml.store.sql.models import LABEL, NAME, SERIAL, Base

HASH = String(128)


class MonitorRow(Base):
    __tablename__ = "monitors"
    __table_args__ = (Index("ix_monitors_deployment", "deployment"),)

    name: Mapped[str] = mapped_column(NAME, primary_key=True)
    deployment: Mapped[str] = mapped_column(NAME)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    reference_hash: Mapped[str | None] = mapped_column(HASH, nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)
    last_run_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_window_end: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class MonitorResultRow(Base):
    __tablename__ = "monitor_results"
    __table_args__ = (Index("ix_monitor_results_monitor_kind_id", "monitor", "kind", "id"),)

    id: Mapped[int] = mapped_column(SERIAL, primary_key=True, autoincrement=True)
    monitor: Mapped[str] = mapped_column(NAME, ForeignKey("monitors.name", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    start_ms: Mapped[int] = mapped_column(BigInteger)
    end_ms: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(BigInteger)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)


class MonitorAlertRow(Base):
    __tablename__ = "monitor_alerts"
    __table_args__ = (Index("ix_monitor_alerts_monitor_rule", "monitor", "rule"),)

    id: Mapped[int] = mapped_column(SERIAL, primary_key=True, autoincrement=True)
    monitor: Mapped[str] = mapped_column(NAME, ForeignKey("monitors.name", ondelete="CASCADE"))
    rule: Mapped[str] = mapped_column(NAME)
    statistic: Mapped[str] = mapped_column(LABEL)
    value: Mapped[float] = mapped_column(Double)
    threshold: Mapped[float] = mapped_column(Double)
    severity: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    fired_at: Mapped[int] = mapped_column(BigInteger)
    notified: Mapped[list[str]] = mapped_column(JSON)


class MonitorRoutedRow(Base):
    __tablename__ = "monitor_routed"

    monitor: Mapped[str] = mapped_column(
        NAME, ForeignKey("monitors.name", ondelete="CASCADE"), primary_key=True
    )
    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(String(32))
    priority: Mapped[float] = mapped_column(Double)
    routed_at: Mapped[int] = mapped_column(BigInteger)
