"""dataset columns: a tabular version's columns and roles, and the options every version was read with

Revision ID: 0007
Revises: 0006
Create Date: 2027-01-24 12:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Both nullable: versions added before keep NULL (their features are `.npy` arrays, read as before)."""
    with op.batch_alter_table("dataset_versions") as batch:
        batch.add_column(sa.Column("columns", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("ingest_options", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dataset_versions") as batch:
        batch.drop_column("ingest_options")
        batch.drop_column("columns")
