"""Migration 0011: the webhook tables appear, the fan-out starts at the ledger's head (no flood of old
events), and going back removes them."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, text

from modelplane.store.db import create_db_engine, run_alembic


def test_migration_0011_starts_the_cursor_at_the_head(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'mp.db'}")
    try:
        run_alembic(engine, "upgrade", "0008")
        with engine.begin() as conn:
            conn.execute(text("UPDATE audit_head SET seq = 41 WHERE id = 1"))
        run_alembic(engine, "upgrade", "0011")
        assert {"webhooks", "webhook_deliveries", "event_cursor"} <= set(inspect(engine).get_table_names())
        with engine.begin() as conn:
            assert conn.execute(text("SELECT seq FROM event_cursor WHERE id = 1")).scalar() == 41
        run_alembic(engine, "downgrade", "0008")
        assert "webhooks" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()
