"""Rows of the sweeps capability: sweeps, their trials and coarse-to-fine rounds.

The Optuna study itself lives in Optuna's own tables (see :mod:`stackml.tuning.study`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from stackml.store.sql.models import ID, NAME, Base


class SweepRow(Base):
    __tablename__ = "tuning_sweeps"
    __table_args__ = (Index("ix_tuning_sweeps_project_name", "project", "name", unique=True),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(NAME)
    project: Mapped[str] = mapped_column(NAME)
    run_id: Mapped[str] = mapped_column(ID)
    method: Mapped[str] = mapped_column(String(32))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16))
    budget: Mapped[int] = mapped_column(Integer)
    claimed: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)


class SweepTrialRow(Base):
    __tablename__ = "tuning_trials"

    sweep_id: Mapped[str] = mapped_column(
        ID, ForeignKey("tuning_sweeps.id", ondelete="CASCADE"), primary_key=True
    )
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = mapped_column(ID)
    state: Mapped[str] = mapped_column(String(16))
    values: Mapped[list[float] | None] = mapped_column(JSON, nullable=True)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[int] = mapped_column(BigInteger)


class SweepRoundRow(Base):
    __tablename__ = "tuning_rounds"

    sweep_id: Mapped[str] = mapped_column(
        ID, ForeignKey("tuning_sweeps.id", ondelete="CASCADE"), primary_key=True
    )
    round: Mapped[int] = mapped_column(Integer, primary_key=True)
    space: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[int] = mapped_column(BigInteger)
