"""Labeling: a partial index of open tasks for the queue, and incremental progress counters.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_OPEN = sa.text("state = 'open'")

# Counters recomputed from existing rows (shard 0); keys as in stackml.store.sql.labeling_counts.
_BACKFILL = (
    "SELECT project, 'tasks:' || state, 0, COUNT(*) FROM label_tasks GROUP BY project, state",
    "SELECT project, 'annotations:' || status, 0, COUNT(*) FROM label_annotations "
    "GROUP BY project, status",
    "SELECT project, 'machine', 0, COUNT(*) FROM label_annotations WHERE origin = 'machine' "
    "GROUP BY project",
    "SELECT project, 'user:' || \"user\", 0, COUNT(*) FROM label_annotations "
    "WHERE origin != 'machine' GROUP BY project, \"user\"",
    "SELECT project, 'skipped', 0, COUNT(DISTINCT task_id) FROM label_skips GROUP BY project",
)


def upgrade() -> None:
    op.drop_index("ix_label_tasks_queue", table_name="label_tasks")
    op.create_index(
        "ix_label_tasks_open",
        "label_tasks",
        ["project", "queue_rank", "id", "assignee"],
        sqlite_where=_OPEN,
        postgresql_where=_OPEN,
    )
    op.create_table(
        "label_counts",
        sa.Column("project", sa.String(length=128), nullable=False),
        sa.Column("key", sa.String(length=160), nullable=False),
        sa.Column("shard", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project"],
            ["label_projects.name"],
            name=op.f("fk_label_counts_project_label_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project", "key", "shard", name=op.f("pk_label_counts")),
    )
    for query in _BACKFILL:
        op.execute(f'INSERT INTO label_counts (project, "key", shard, n) {query}')


def downgrade() -> None:
    op.drop_table("label_counts")
    op.drop_index("ix_label_tasks_open", table_name="label_tasks")
    op.create_index("ix_label_tasks_queue", "label_tasks", ["project", "state", "queue_rank", "id"])
