"""Rows of the model registry capability: registered models, versions, aliases with their
history, and the promotion audit trail.

A version's files are not copied: ``files`` lists their paths and blob hashes, which are also
the blob hashes of the run's artifacts the version was registered from. Versions keep no
foreign key to their run, so deleting a run never deletes a registered model version.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from stackml.store.sql.models import ID, LABEL, NAME, SERIAL, Base


class RegisteredModelRow(Base):
    __tablename__ = "registry_models"

    name: Mapped[str] = mapped_column(NAME, primary_key=True)
    description: Mapped[str] = mapped_column(Text)
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)
    tags: Mapped[dict[str, Any]] = mapped_column(JSON)
    gates: Mapped[dict[str, Any]] = mapped_column(JSON)


class ModelVersionRow(Base):
    __tablename__ = "registry_versions"
    __table_args__ = (Index("ix_registry_versions_run_id", "run_id"),)

    model: Mapped[str] = mapped_column(
        NAME, ForeignKey("registry_models.name", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    run_id: Mapped[str] = mapped_column(ID)
    artifact_path: Mapped[str] = mapped_column(String(1024))
    format: Mapped[str] = mapped_column(String(64))
    files: Mapped[list[Any]] = mapped_column(JSON)
    signature: Mapped[dict[str, Any]] = mapped_column(JSON)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON)
    description: Mapped[str] = mapped_column(Text)
    tags: Mapped[dict[str, Any]] = mapped_column(JSON)
    author: Mapped[str] = mapped_column(LABEL)
    created_at: Mapped[int] = mapped_column(BigInteger)
    code_commit: Mapped[str | None] = mapped_column(String(64), nullable=True)
    dataset_versions: Mapped[list[Any]] = mapped_column(JSON)
    source_version: Mapped[str | None] = mapped_column(LABEL, nullable=True)


class ModelAliasRow(Base):
    __tablename__ = "registry_aliases"

    model: Mapped[str] = mapped_column(
        NAME, ForeignKey("registry_models.name", ondelete="CASCADE"), primary_key=True
    )
    alias: Mapped[str] = mapped_column(NAME, primary_key=True)
    version: Mapped[int] = mapped_column(Integer)


class ModelAliasEventRow(Base):
    __tablename__ = "registry_alias_events"
    __table_args__ = (Index("ix_registry_alias_events_model_alias", "model", "alias"),)

    id: Mapped[int] = mapped_column(SERIAL, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(NAME, ForeignKey("registry_models.name", ondelete="CASCADE"))
    alias: Mapped[str] = mapped_column(NAME)
    version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    previous: Mapped[int | None] = mapped_column(Integer, nullable=True)
    action: Mapped[str] = mapped_column(String(16))
    author: Mapped[str] = mapped_column(LABEL)
    reason: Mapped[str] = mapped_column(Text)
    moved_at: Mapped[int] = mapped_column(BigInteger)
    gates: Mapped[dict[str, Any]] = mapped_column(JSON)
