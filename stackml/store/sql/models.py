"""SQLAlchemy rows of the metadata store.

Rows stay inside :mod:`stackml.store.sql`; callers get the frozen snapshots of
:mod:`stackml.store.entities`. Times are integer milliseconds since the epoch.

Metric history is stored in columnar chunks: one ``metric_chunks`` row per metric key per
written batch, holding packed little-endian arrays of steps, timestamps and values. A batch of
50,000 points over 10 keys is 10 rows, not 50,000, which keeps the hot write path far from
the database's per-row costs; NaN and infinities are kept exactly inside the packed floats.

NaN is not a value SQLite can keep in a REAL column (it stores NULL instead), so in
``latest_metrics`` a NULL ``value``/``min_value``/``max_value`` reads back as NaN.
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
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ID = String(32)
NAME = String(128)
KEY = String(250)
LABEL = String(250)
#: 64-bit surrogate keys; on SQLite an INTEGER PRIMARY KEY is the rowid, the fastest to append.
SERIAL = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    """Declarative base holding the metadata the migrations are checked against."""

    # Deterministic constraint names, so migrations can name what they alter on every dialect.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class ProjectRow(Base):
    __tablename__ = "projects"

    name: Mapped[str] = mapped_column(NAME, primary_key=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[int] = mapped_column(BigInteger)


class ExperimentRow(Base):
    __tablename__ = "experiments"
    __table_args__ = (UniqueConstraint("project", "name", name="uq_experiments_project_name"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    project: Mapped[str] = mapped_column(NAME, ForeignKey("projects.name", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(NAME)
    created_at: Mapped[int] = mapped_column(BigInteger)


class ExperimentTagRow(Base):
    __tablename__ = "experiment_tags"

    experiment_id: Mapped[str] = mapped_column(
        ID, ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(KEY, primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class RunRow(Base):
    __tablename__ = "runs"
    __table_args__ = (
        Index("ix_runs_project_start_time", "project", "start_time"),
        Index("ix_runs_experiment_start_time", "experiment_id", "start_time"),
        Index("ix_runs_parent_id", "parent_id"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    project: Mapped[str] = mapped_column(NAME, ForeignKey("projects.name", ondelete="CASCADE"))
    experiment_id: Mapped[str] = mapped_column(ID, ForeignKey("experiments.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(LABEL)
    status: Mapped[str] = mapped_column(String(16))
    start_time: Mapped[int] = mapped_column(BigInteger)
    end_time: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    user: Mapped[str] = mapped_column(LABEL)
    # Deleting a parent keeps its children as top-level runs.
    parent_id: Mapped[str | None] = mapped_column(
        ID, ForeignKey("runs.id", ondelete="SET NULL"), nullable=True
    )


class ParamRow(Base):
    __tablename__ = "params"

    run_id: Mapped[str] = mapped_column(
        ID, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(KEY, primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    # The value parsed as a number when it is one, so filters can compare params numerically
    # with a plain column comparison on every database (no CAST that fails on PostgreSQL).
    value_num: Mapped[float | None] = mapped_column(Double, nullable=True)


class TagRow(Base):
    __tablename__ = "tags"

    run_id: Mapped[str] = mapped_column(
        ID, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(KEY, primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class MetricChunkRow(Base):
    __tablename__ = "metric_chunks"
    __table_args__ = (Index("ix_metric_chunks_run_key", "run_id", "key", "id"),)

    id: Mapped[int] = mapped_column(SERIAL, primary_key=True, autoincrement=True)
    # No foreign key on purpose, as for every hot-path row: the writer checks the run inside its
    # transaction (holding a share lock on PostgreSQL) and deleting a run deletes its chunks.
    run_id: Mapped[str] = mapped_column(ID)
    key: Mapped[str] = mapped_column(KEY)
    count: Mapped[int] = mapped_column(Integer)
    first_step: Mapped[int] = mapped_column(BigInteger)
    last_step: Mapped[int] = mapped_column(BigInteger)
    steps: Mapped[bytes] = mapped_column(LargeBinary)  # int64, little-endian
    timestamps: Mapped[bytes] = mapped_column(LargeBinary)  # int64, little-endian
    values: Mapped[bytes] = mapped_column(LargeBinary)  # float64, little-endian


class LatestMetricRow(Base):
    __tablename__ = "latest_metrics"
    __table_args__ = (Index("ix_latest_metrics_key_value", "key", "value"),)

    run_id: Mapped[str] = mapped_column(
        ID, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(KEY, primary_key=True)
    value: Mapped[float | None] = mapped_column(Double, nullable=True)
    step: Mapped[int] = mapped_column(BigInteger)
    timestamp: Mapped[int] = mapped_column(BigInteger)
    min_value: Mapped[float | None] = mapped_column(Double, nullable=True)
    max_value: Mapped[float | None] = mapped_column(Double, nullable=True)
    count: Mapped[int] = mapped_column(BigInteger)


class ArtifactRow(Base):
    __tablename__ = "artifacts"
    __table_args__ = (
        UniqueConstraint("run_id", "path", name="uq_artifacts_run_path"),
        Index("ix_artifacts_blob_hash", "blob_hash"),
    )

    id: Mapped[int] = mapped_column(SERIAL, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ID, ForeignKey("runs.id", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(String(1024))
    blob_hash: Mapped[str] = mapped_column(String(128))
    size: Mapped[int] = mapped_column(BigInteger)
    media_type: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[int] = mapped_column(BigInteger)


class LineageEdgeRow(Base):
    __tablename__ = "lineage_edges"
    __table_args__ = (
        UniqueConstraint(
            "source_type",
            "source_id",
            "target_type",
            "target_id",
            "role",
            name="uq_lineage_edges_identity",
        ),
        Index("ix_lineage_edges_source", "source_type", "source_id"),
        Index("ix_lineage_edges_target", "target_type", "target_id"),
    )

    id: Mapped[int] = mapped_column(SERIAL, primary_key=True, autoincrement=True)
    source_type: Mapped[str] = mapped_column(NAME)
    source_id: Mapped[str] = mapped_column(LABEL)
    target_type: Mapped[str] = mapped_column(NAME)
    target_id: Mapped[str] = mapped_column(LABEL)
    role: Mapped[str] = mapped_column(NAME)
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[int] = mapped_column(BigInteger)


class UserRow(Base):
    __tablename__ = "users"

    name: Mapped[str] = mapped_column(NAME, primary_key=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)


class ApiTokenRow(Base):
    __tablename__ = "api_tokens"
    __table_args__ = (Index("ix_api_tokens_user", "user"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    user: Mapped[str] = mapped_column(NAME, ForeignKey("users.name", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(LABEL)
    prefix: Mapped[str] = mapped_column(String(16))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    last_used_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


# Each capability keeps its rows in its own module; importing them here registers their tables
# on Base.metadata, which migrations and the schema checks compare against.
from stackml.store.sql import (  # noqa: E402,F401
    models_compute,
    models_datasets,
    models_labeling,
    models_monitoring,
    models_pipelines,
    models_registry,
    models_serving,
    models_training,
    models_tuning,
)
