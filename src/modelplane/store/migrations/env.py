"""Alembic environment: runs on the connection the Database hands over (or the configured URL)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from modelplane.store.db import VERSION_TABLE
from modelplane.store.orm import Base

config = context.config
target_metadata = Base.metadata
# VERSION_TABLE is not Alembic's default `alembic_version`: Optuna keeps its studies in the same database
# and runs its own Alembic, whose bookkeeping table has that default name.


def run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        version_table=VERSION_TABLE,
    )
    with context.begin_transaction():
        context.run_migrations()


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        run_on(connection)
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as conn:
        run_on(conn)


run()
