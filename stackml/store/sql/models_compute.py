"""SQLAlchemy rows of the compute capability (registered on the shared ``Base.metadata``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Double, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from stackml.store.sql.models import ID, LABEL, NAME, SERIAL, Base


class JobRow(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        # The claim query walks queued jobs by priority and age.
        Index("ix_jobs_state_priority_created", "state", "priority", "created_at"),
        Index("ix_jobs_user_state", "user", "state"),
        Index("ix_jobs_worker_id", "worker_id"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(LABEL)
    project: Mapped[str] = mapped_column(NAME)
    user: Mapped[str] = mapped_column(LABEL)
    executor: Mapped[str] = mapped_column(String(16))
    command: Mapped[list[str]] = mapped_column(JSON)
    target: Mapped[str | None] = mapped_column(String(255), nullable=True)
    args: Mapped[dict[str, Any]] = mapped_column(JSON)
    env: Mapped[dict[str, str]] = mapped_column(JSON)
    cpus: Mapped[float] = mapped_column(Double)
    gpus: Mapped[int] = mapped_column(Integer)
    memory_mb: Mapped[int] = mapped_column(BigInteger)
    nprocs: Mapped[int] = mapped_column(Integer)
    priority: Mapped[int] = mapped_column(Integer)
    timeout_s: Mapped[float | None] = mapped_column(Double, nullable=True)
    max_retries: Mapped[int] = mapped_column(Integer)
    retry_on_failure: Mapped[bool] = mapped_column(Boolean)
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    exit_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # No foreign key: a worker row may be pruned while its finished jobs stay.
    worker_id: Mapped[str | None] = mapped_column(ID, nullable=True)
    gpu_ids: Mapped[str] = mapped_column(String(255))
    lease_expires_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean)
    log_hash: Mapped[str | None] = mapped_column(String(128), nullable=True)
    log_seq: Mapped[int] = mapped_column(BigInteger)
    run_id: Mapped[str | None] = mapped_column(ID, nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    started_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    finished_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class WorkerRow(Base):
    __tablename__ = "workers"
    __table_args__ = (Index("ix_workers_state", "state"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(LABEL)
    host: Mapped[str] = mapped_column(LABEL)
    user: Mapped[str] = mapped_column(LABEL)
    cpus: Mapped[float] = mapped_column(Double)
    gpus: Mapped[str] = mapped_column(String(255))
    memory_mb: Mapped[int] = mapped_column(BigInteger)
    lease_s: Mapped[float] = mapped_column(Double)
    state: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[int] = mapped_column(BigInteger)
    heartbeat_at: Mapped[int] = mapped_column(BigInteger)


class JobLogRow(Base):
    __tablename__ = "job_log_chunks"
    __table_args__ = (Index("ix_job_log_chunks_job_seq", "job_id", "seq"),)

    id: Mapped[int] = mapped_column(SERIAL, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ID)
    # Character offset of the chunk's end in the job's log: readers ask "after N".
    seq: Mapped[int] = mapped_column(BigInteger)
    text: Mapped[str] = mapped_column(Text)


class QuotaRow(Base):
    __tablename__ = "compute_quotas"

    user: Mapped[str] = mapped_column(LABEL, primary_key=True)
    max_cpus: Mapped[float | None] = mapped_column(Double, nullable=True)
    max_gpus: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_jobs: Mapped[int | None] = mapped_column(Integer, nullable=True)
