"""Monitoring: monitors, check results, alert rules and alert events.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "monitors",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("deployment", sa.String(length=128), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("reference_hash", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("last_run_at", sa.BigInteger(), nullable=True),
        sa.Column("last_window_end", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_monitors")),
    )
    op.create_index("ix_monitors_deployment", "monitors", ["deployment"])
    op.create_table(
        "monitor_results",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("monitor", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("start_ms", sa.BigInteger(), nullable=False),
        sa.Column("end_ms", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["monitor"],
            ["monitors.name"],
            name=op.f("fk_monitor_results_monitor_monitors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_results")),
    )
    op.create_index(
        "ix_monitor_results_monitor_kind_id", "monitor_results", ["monitor", "kind", "id"]
    )
    op.create_table(
        "monitor_alerts",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("monitor", sa.String(length=128), nullable=False),
        sa.Column("rule", sa.String(length=128), nullable=False),
        sa.Column("statistic", sa.String(length=250), nullable=False),
        sa.Column("value", sa.Double(), nullable=False),
        sa.Column("threshold", sa.Double(), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("fired_at", sa.BigInteger(), nullable=False),
        sa.Column("notified", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["monitor"],
            ["monitors.name"],
            name=op.f("fk_monitor_alerts_monitor_monitors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_alerts")),
    )
    op.create_index("ix_monitor_alerts_monitor_rule", "monitor_alerts", ["monitor", "rule"])
    op.create_table(
        "monitor_routed",
        sa.Column("monitor", sa.String(length=128), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("priority", sa.Double(), nullable=False),
        sa.Column("routed_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["monitor"],
            ["monitors.name"],
            name=op.f("fk_monitor_routed_monitor_monitors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("monitor", "request_id", name=op.f("pk_monitor_routed")),
    )


def downgrade() -> None:
    op.drop_table("monitor_routed")
    op.drop_index("ix_monitor_alerts_monitor_rule", table_name="monitor_alerts")
    op.drop_table("monitor_alerts")
    op.drop_index("ix_monitor_results_monitor_kind_id", table_name="monitor_results")
    op.drop_table("monitor_results")
    op.drop_index("ix_monitors_deployment", table_name="monitors")
    op.drop_table("monitors")
