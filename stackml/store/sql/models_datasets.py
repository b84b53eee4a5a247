"""SQLAlchemy rows of the datasets capability (registered on the shared ``Base.metadata``).

A version row is written last, in the transaction that also writes its blob references and
moves ``latest``; soft deletion sets ``deleted_at`` and keeps the row for lineage. A version's
file blobs are one packed value (not one row per file), so an add of ten thousand files
writes two rows, not ten thousand.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from stackml.store.sql.models import LABEL, NAME, SERIAL, Base

HASH = String(64)
VERSION_ID = String(32)


class DatasetRow(Base):
    __tablename__ = "datasets"

    name: Mapped[str] = mapped_column(NAME, primary_key=True)
    created_at: Mapped[int] = mapped_column(BigInteger)


class DatasetVersionRow(Base):
    __tablename__ = "dataset_versions"
    __table_args__ = (
        UniqueConstraint("dataset", "number", name="uq_dataset_versions_dataset_number"),
        Index("ix_dataset_versions_dataset_id", "dataset", "id"),
    )

    id: Mapped[str] = mapped_column(VERSION_ID, primary_key=True)
    dataset: Mapped[str] = mapped_column(NAME, ForeignKey("datasets.name", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    parent_id: Mapped[str | None] = mapped_column(VERSION_ID, nullable=True)
    message: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(LABEL)
    created_at: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))
    manifest_hash: Mapped[str | None] = mapped_column(HASH, nullable=True)
    table_hash: Mapped[str | None] = mapped_column(HASH, nullable=True)
    num_files: Mapped[int] = mapped_column(BigInteger)
    num_rows: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    schema: Mapped[dict[str, Any]] = mapped_column(JSON)
    splits: Mapped[dict[str, Any]] = mapped_column(JSON)
    transform: Mapped[dict[str, Any]] = mapped_column(JSON)
    deleted_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class DatasetBlobRow(Base):
    """Every blob a version references, so ``gc`` need not read (possibly damaged) manifests.

    ``digests`` holds the sorted, distinct 32-byte binary digests back to back; it lives in
    its own table so that reading version rows never loads it.
    """

    __tablename__ = "dataset_version_blobs"

    version_id: Mapped[str] = mapped_column(
        VERSION_ID, ForeignKey("dataset_versions.id", ondelete="CASCADE"), primary_key=True
    )
    digests: Mapped[bytes] = mapped_column(LargeBinary)


class DatasetAliasRow(Base):
    __tablename__ = "dataset_aliases"

    dataset: Mapped[str] = mapped_column(
        NAME, ForeignKey("datasets.name", ondelete="CASCADE"), primary_key=True
    )
    alias: Mapped[str] = mapped_column(NAME, primary_key=True)
    version_id: Mapped[str] = mapped_column(
        VERSION_ID, ForeignKey("dataset_versions.id", ondelete="CASCADE")
    )


class DatasetAliasEventRow(Base):
    __tablename__ = "dataset_alias_events"
    __table_args__ = (Index("ix_dataset_alias_events_dataset_alias", "dataset", "alias"),)

    id: Mapped[int] = mapped_column(SERIAL, primary_key=True, autoincrement=True)
    dataset: Mapped[str] = mapped_column(NAME, ForeignKey("datasets.name", ondelete="CASCADE"))
    alias: Mapped[str] = mapped_column(NAME)
    version_id: Mapped[str | None] = mapped_column(VERSION_ID, nullable=True)
    moved_at: Mapped[int] = mapped_column(BigInteger)
    author: Mapped[str] = mapped_column(LABEL)
