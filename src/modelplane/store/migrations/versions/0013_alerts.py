"""alerts: rules per deployment with their firing state, the history of firings and resolutions, and the
alert rules a drift / accuracy-drop retrain policy owns

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 20:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deployment", sa.String(length=200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("for_windows", sa.Integer(), nullable=False),
        sa.Column("origin", sa.String(length=220), nullable=False),
        sa.Column("breaches", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("episode", sa.String(length=32), nullable=True),
        sa.Column("last_window_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("deployment", "origin", "text"),
    )
    op.create_index("ix_alert_rules_deployment", "alert_rules", ["deployment"])
    op.create_table(
        "alert_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("deployment", sa.String(length=200), nullable=False),
        sa.Column("version", sa.String(length=250), nullable=True),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("episode", sa.String(length=32), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_alert_history_rule_id", "alert_history", ["rule_id"])
    op.create_index("ix_alert_history_deployment", "alert_history", ["deployment"])
    op.create_index("ix_alert_history_episode", "alert_history", ["episode"])
    with op.batch_alter_table("retrain_policies") as batch:
        batch.add_column(sa.Column("alert_when", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("retrain_policies") as batch:
        batch.drop_column("alert_when")
    op.drop_index("ix_alert_history_episode", table_name="alert_history")
    op.drop_index("ix_alert_history_deployment", table_name="alert_history")
    op.drop_index("ix_alert_history_rule_id", table_name="alert_history")
    op.drop_table("alert_history")
    op.drop_index("ix_alert_rules_deployment", table_name="alert_rules")
    op.drop_table("alert_rules")
