"""Model registry: registered models, versions, aliases with their history, and the
promotion audit trail.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "registry_models",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("gates", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_registry_models")),
    )
    op.create_table(
        "registry_versions",
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("artifact_path", sa.String(length=1024), nullable=False),
        sa.Column("format", sa.String(length=64), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("signature", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("author", sa.String(length=250), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("code_commit", sa.String(length=64), nullable=True),
        sa.Column("dataset_versions", sa.JSON(), nullable=False),
        sa.Column("source_version", sa.String(length=250), nullable=True),
        sa.ForeignKeyConstraint(
            ["model"],
            ["registry_models.name"],
            name=op.f("fk_registry_versions_model_registry_models"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("model", "version", name=op.f("pk_registry_versions")),
    )
    op.create_index("ix_registry_versions_run_id", "registry_versions", ["run_id"], unique=False)
    op.create_table(
        "registry_aliases",
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("alias", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model"],
            ["registry_models.name"],
            name=op.f("fk_registry_aliases_model_registry_models"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("model", "alias", name=op.f("pk_registry_aliases")),
    )
    op.create_table(
        "registry_alias_events",
        sa.Column("id", _SERIAL, autoincrement=True, nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("alias", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("previous", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("author", sa.String(length=250), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("moved_at", sa.BigInteger(), nullable=False),
        sa.Column("gates", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model"],
            ["registry_models.name"],
            name=op.f("fk_registry_alias_events_model_registry_models"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_alias_events")),
    )
    op.create_index(
        "ix_registry_alias_events_model_alias",
        "registry_alias_events",
        ["model", "alias"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_registry_alias_events_model_alias", table_name="registry_alias_events")
    op.drop_table("registry_alias_events")
    op.drop_table("registry_aliases")
    op.drop_index("ix_registry_versions_run_id", table_name="registry_versions")
    op.drop_table("registry_versions")
    op.drop_table("registry_models")
