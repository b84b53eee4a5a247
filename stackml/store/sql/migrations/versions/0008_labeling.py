"""Labeling: label projects, tasks with leases, annotations, reviews and annotator statistics.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_NAME = sa.String(length=128)
_LABEL = sa.String(length=250)


def _project_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["project"],
        ["label_projects.name"],
        name=op.f(f"fk_{table}_project_label_projects"),
        ondelete="CASCADE",
    )


def _task_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["task_id"],
        ["label_tasks.id"],
        name=op.f(f"fk_{table}_task_id_label_tasks"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "label_projects",
        sa.Column("name", _NAME, nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("task_type", sa.String(length=32), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("source", _LABEL, nullable=True),
        sa.Column("created_by", _LABEL, nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_label_projects")),
    )
    op.create_table(
        "label_members",
        sa.Column("project", _NAME, nullable=False),
        sa.Column("user", _NAME, nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        _project_fk("label_members"),
        sa.PrimaryKeyConstraint("project", "user", name=op.f("pk_label_members")),
    )
    op.create_table(
        "label_groups",
        sa.Column("project", _NAME, nullable=False),
        sa.Column("group", _NAME, nullable=False),
        sa.Column("user", _NAME, nullable=False),
        _project_fk("label_groups"),
        sa.PrimaryKeyConstraint("project", "group", "user", name=op.f("pk_label_groups")),
    )
    op.create_table(
        "label_tasks",
        sa.Column("id", _SERIAL, autoincrement=True, nullable=False),
        sa.Column("project", _NAME, nullable=False),
        sa.Column("key", _LABEL, nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("priority", sa.Double(), nullable=False),
        sa.Column("queue_rank", sa.Double(), nullable=False),
        sa.Column("source", _LABEL, nullable=False),
        sa.Column("prelabel", sa.JSON(), nullable=True),
        sa.Column("gold", sa.JSON(), nullable=True),
        sa.Column("assignee", sa.String(length=130), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("done_count", sa.Integer(), nullable=False),
        sa.Column("open_slots", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        _project_fk("label_tasks"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_label_tasks")),
    )
    op.create_index("ix_label_tasks_queue", "label_tasks", ["project", "state", "queue_rank", "id"])
    op.create_index("ix_label_tasks_project_id", "label_tasks", ["project", "id"])
    op.create_table(
        "label_leases",
        sa.Column("task_id", _SERIAL, autoincrement=False, nullable=False),
        sa.Column("user", _NAME, nullable=False),
        sa.Column("project", _NAME, nullable=False),
        sa.Column("started_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        _task_fk("label_leases"),
        sa.PrimaryKeyConstraint("task_id", "user", name=op.f("pk_label_leases")),
    )
    op.create_index("ix_label_leases_project_expires", "label_leases", ["project", "expires_at"])
    op.create_table(
        "label_skips",
        sa.Column("task_id", _SERIAL, autoincrement=False, nullable=False),
        sa.Column("user", _NAME, nullable=False),
        sa.Column("project", _NAME, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        _task_fk("label_skips"),
        sa.PrimaryKeyConstraint("task_id", "user", name=op.f("pk_label_skips")),
    )
    op.create_index("ix_label_skips_project", "label_skips", ["project"])
    op.create_table(
        "label_annotations",
        sa.Column("id", _SERIAL, autoincrement=True, nullable=False),
        sa.Column("task_id", _SERIAL, nullable=False),
        sa.Column("project", _NAME, nullable=False),
        sa.Column("user", _NAME, nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("counted", sa.Boolean(), nullable=False),
        sa.Column("extra", sa.Boolean(), nullable=False),
        sa.Column("model", _LABEL, nullable=True),
        sa.Column("confidence", sa.Double(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("started_at", sa.BigInteger(), nullable=True),
        sa.Column("duration_ms", sa.BigInteger(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("reviewer", _NAME, nullable=True),
        sa.Column("reviewed_at", sa.BigInteger(), nullable=True),
        _task_fk("label_annotations"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_label_annotations")),
    )
    op.create_index("ix_label_annotations_task_user", "label_annotations", ["task_id", "user"])
    op.create_index("ix_label_annotations_project_id", "label_annotations", ["project", "id"])


def downgrade() -> None:
    op.drop_table("label_annotations")
    op.drop_table("label_skips")
    op.drop_table("label_leases")
    op.drop_table("label_tasks")
    op.drop_table("label_groups")
    op.drop_table("label_members")
    op.drop_table("label_projects")
