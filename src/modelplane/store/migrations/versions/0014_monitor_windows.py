"""monitor windows: what each monitor run found per served version, and when each deployment's next is due

Revision ID: 0014
Revises: 0013
Create Date: 2027-04-01 12:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "monitor_windows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deployment", sa.String(length=200), nullable=False),
        sa.Column("version", sa.String(length=260), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_monitor_windows_deployment", "monitor_windows", ["deployment"])
    op.create_index("ix_monitor_windows_window_end", "monitor_windows", ["window_end"])
    op.create_table(
        "monitor_schedule",
        sa.Column("deployment", sa.String(length=200), nullable=False),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("job_id", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("deployment"),
    )


def downgrade() -> None:
    op.drop_table("monitor_schedule")
    op.drop_index("ix_monitor_windows_window_end", table_name="monitor_windows")
    op.drop_index("ix_monitor_windows_deployment", table_name="monitor_windows")
    op.drop_table("monitor_windows")
