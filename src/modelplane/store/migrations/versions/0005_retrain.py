"""retrain: continuous-training policies and the history of their firings

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 12:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "retrain_policies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("dataset", sa.String(length=200), nullable=False),
        sa.Column("trigger", sa.String(length=20), nullable=False),
        sa.Column("schedule", sa.String(length=200), nullable=True),
        sa.Column("gate", sa.Text(), nullable=False),
        sa.Column("canary_percent", sa.Float(), nullable=True),
        sa.Column("canary_seconds", sa.Float(), nullable=True),
        sa.Column("replay", sa.Float(), nullable=False),
        sa.Column("epochs", sa.Integer(), nullable=False),
        sa.Column("lr", sa.Float(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("last_seen_dataset_version_id", sa.Integer(), nullable=True),
        sa.Column("next_fire_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["last_seen_dataset_version_id"], ["dataset_versions.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("model"),
    )
    op.create_table(
        "retrain_firings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("dedupe", sa.String(length=300), nullable=False),
        sa.Column("trigger", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("dataset_version_id", sa.Integer(), nullable=True),
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("candidate_version_id", sa.Integer(), nullable=True),
        sa.Column("deployments", sa.JSON(), nullable=False),
        sa.Column("canary_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["dataset_version_id"], ["dataset_versions.id"]),
        sa.ForeignKeyConstraint(["candidate_version_id"], ["model_versions.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedupe"),
    )
    op.create_index("ix_retrain_firings_model", "retrain_firings", ["model"])
    op.create_index("ix_retrain_firings_state", "retrain_firings", ["state"])


def downgrade() -> None:
    op.drop_index("ix_retrain_firings_state", table_name="retrain_firings")
    op.drop_index("ix_retrain_firings_model", table_name="retrain_firings")
    op.drop_table("retrain_firings")
    op.drop_table("retrain_policies")
