"""version artifacts as rows: model_version_artifacts (format, sha256, size) replaces weights_sha/onnx_sha

Revision ID: 0006
Revises: 0005
Create Date: 2027-01-10 12:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

ONNX = "'onnx'"



def _weights_format(framework: str) -> str:
    """SQL for the format of a version's weights, which follows its framework (an int8 version's weights
    are its ONNX graph)."""
    return (
        f"CASE {framework} WHEN 'torch' THEN 'safetensors' WHEN 'sklearn' THEN 'skops' "
        "WHEN 'onnx' THEN 'onnx' END"
    )


def upgrade() -> None:
    connection = op.get_bind()
    _refuse_what_cannot_move(connection)
    op.create_table(
        "model_version_artifacts",
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("format", sa.String(length=20), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["sha256"], ["artifacts.sha256"]),
        sa.ForeignKeyConstraint(["version_id"], ["model_versions.id"]),
        sa.PrimaryKeyConstraint("version_id", "format"),
    )
    op.create_index(
        op.f("ix_model_version_artifacts_sha256"), "model_version_artifacts", ["sha256"], unique=False
    )
    connection.execute(
        sa.text(
            "INSERT INTO model_version_artifacts (version_id, format, sha256, size) "
            f"SELECT v.id, {_weights_format('v.framework')}, v.weights_sha, a.size "
            "FROM model_versions v JOIN artifacts a ON a.sha256 = v.weights_sha"
        )
    )
    connection.execute(
        sa.text(
            "INSERT INTO model_version_artifacts (version_id, format, sha256, size) "
            "SELECT v.id, 'onnx', v.onnx_sha, a.size "
            "FROM model_versions v JOIN artifacts a ON a.sha256 = v.onnx_sha WHERE v.framework <> 'onnx'"
        )
    )
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_column("onnx_sha")
        batch.drop_column("weights_sha")


def _refuse_what_cannot_move(connection: sa.Connection) -> None:
    """Stop before changing anything when a row would not survive the move."""
    unknown = connection.execute(
        sa.text(
            "SELECT DISTINCT framework FROM model_versions "
            "WHERE framework NOT IN ('torch', 'sklearn', 'onnx')"
        )
    ).scalars()
    frameworks = sorted(unknown)
    if frameworks:
        raise RuntimeError(
            f"model versions of framework {', '.join(frameworks)} have no known weights format; "
            "upgrade modelplane to a release that knows them"
        )
    split = connection.execute(
        sa.text("SELECT COUNT(*) FROM model_versions WHERE framework = 'onnx' AND onnx_sha <> weights_sha")
    ).scalar()
    if split:
        raise RuntimeError(
            f"{split} ONNX-framework version(s) have weights that differ from their ONNX graph; "
            "their weights must be the graph"
        )


def downgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.add_column(sa.Column("weights_sha", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("onnx_sha", sa.String(length=64), nullable=True))
    weights = _sha_of(_weights_format("model_versions.framework"))
    op.execute(f"UPDATE model_versions SET weights_sha = {weights}, onnx_sha = {_sha_of(ONNX)}")
    with op.batch_alter_table("model_versions") as batch:
        batch.alter_column("weights_sha", existing_type=sa.String(length=64), nullable=False)
        batch.create_foreign_key("model_versions_weights_sha_fkey", "artifacts", ["weights_sha"], ["sha256"])
        batch.create_foreign_key("model_versions_onnx_sha_fkey", "artifacts", ["onnx_sha"], ["sha256"])
    op.drop_index(op.f("ix_model_version_artifacts_sha256"), table_name="model_version_artifacts")
    op.drop_table("model_version_artifacts")


def _sha_of(fmt: str) -> str:
    """SQL for the sha of the artifact of format `fmt` (an SQL expression) of the row being updated."""
    return (
        "(SELECT m.sha256 FROM model_version_artifacts m "
        f"WHERE m.version_id = model_versions.id AND m.format = {fmt})"
    )
