"""delete and retention: a deleted model keeps its row (so its version numbers are never reused when the
name is registered again) and a model may carry a retention policy (keep the last N versions)

Revision ID: 0009
Revises: 0008
Create Date: 2027-02-10 12:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """All nullable or defaulted: existing models are live and have no retention policy."""
    with op.batch_alter_table("models") as batch:
        batch.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("keep_last", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("keep_aliased", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("models") as batch:
        batch.drop_column("keep_aliased")
        batch.drop_column("keep_last")
        batch.drop_column("deleted_at")
