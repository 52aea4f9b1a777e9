"""tracking: runs a user's own code logs (no dataset; name, params, tags), experiments, metric points by
step and time, run artifacts, MLflow logged models

Revision ID: 0010
Revises: 0008
Create Date: 2027-03-01 12:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    with op.batch_alter_table("runs") as batch:
        batch.alter_column("dataset_version_id", existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column("name", sa.String(length=250), nullable=True))
        batch.add_column(sa.Column("experiment_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("params", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("tags", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("inputs", sa.JSON(), nullable=True))
        batch.create_foreign_key("fk_runs_experiment_id", "experiments", ["experiment_id"], ["id"])
    op.create_table(
        "run_metric_points",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("timestamp_ms", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_run_metric_points_run_id", "run_metric_points", ["run_id"])
    op.create_table(
        "run_artifacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(length=1000), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"]),
        sa.ForeignKeyConstraint(["sha256"], ["artifacts.sha256"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("path"),
    )
    op.create_index("ix_run_artifacts_run_id", "run_artifacts", ["run_id"])
    op.create_table(
        "logged_models",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=True),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("model_type", sa.String(length=100), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["experiment_id"], ["experiments.id"]),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"]),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    """Refused while a tracked run (one without a dataset) exists: its rows cannot fit the old schema."""
    tracked = (
        op.get_bind().execute(sa.text("SELECT COUNT(*) FROM runs WHERE dataset_version_id IS NULL")).scalar()
    )
    if tracked:
        raise RuntimeError(f"{tracked} tracked runs have no dataset; delete them before downgrading")
    # SQLite's driver opens the transaction only at the first data change, so without this the drops below
    # would commit at once, and a refusal in an older revision's downgrade could no longer roll them back.
    op.execute("UPDATE runs SET status = status WHERE 1 = 0")
    op.drop_table("logged_models")
    op.drop_index("ix_run_artifacts_run_id", table_name="run_artifacts")
    op.drop_table("run_artifacts")
    op.drop_index("ix_run_metric_points_run_id", table_name="run_metric_points")
    op.drop_table("run_metric_points")
    with op.batch_alter_table("runs") as batch:
        batch.drop_constraint("fk_runs_experiment_id", type_="foreignkey")
        batch.drop_column("inputs")
        batch.drop_column("tags")
        batch.drop_column("params")
        batch.drop_column("experiment_id")
        batch.drop_column("name")
        batch.alter_column("dataset_version_id", existing_type=sa.Integer(), nullable=False)
    op.drop_table("experiments")
