"""artifact crypto: an artifact's wrapped data key, master key id and sealed blob; a version's signature

Revision ID: 0008
Revises: 0007
Create Date: 2027-02-10 12:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """All nullable: artifacts written before stay plaintext, versions registered before stay unsigned
    (loading refuses them until `modelplane keys sign-unsigned` signs them)."""
    with op.batch_alter_table("artifacts") as batch:
        batch.add_column(sa.Column("key_id", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("wrapped_key", sa.Text(), nullable=True))
        batch.add_column(sa.Column("blob", sa.String(length=64), nullable=True))
        batch.create_index("ix_artifacts_key_id", ["key_id"])
    with op.batch_alter_table("model_versions") as batch:
        batch.add_column(sa.Column("signature", sa.Text(), nullable=True))
        batch.add_column(sa.Column("signing_key_id", sa.String(length=32), nullable=True))


def downgrade() -> None:
    """Refused while any artifact is encrypted: dropping its wrapped key would lose it for good."""
    sealed = (
        op.get_bind().execute(sa.text("SELECT COUNT(*) FROM artifacts WHERE key_id IS NOT NULL")).scalar()
    )
    if sealed:
        raise RuntimeError(
            f"{sealed} artifacts are encrypted; downgrading would drop their data keys and lose them"
        )
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_column("signing_key_id")
        batch.drop_column("signature")
    with op.batch_alter_table("artifacts") as batch:
        batch.drop_index("ix_artifacts_key_id")
        batch.drop_column("blob")
        batch.drop_column("wrapped_key")
        batch.drop_column("key_id")
