"""Migration 0008: artifacts gain their wrapped data key columns and versions their signature (all NULL
for what came before); going back is refused while an artifact is encrypted."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from modelplane.store.db import create_db_engine, run_alembic


def _check(url: str) -> None:
    engine = create_db_engine(url)
    try:
        run_alembic(engine, "upgrade", "0007")
        with engine.begin() as conn:
            conn.execute(
                text("INSERT INTO artifacts (sha256, size, created_at) VALUES ('a', 1, '2027-01-01')")
            )
        run_alembic(engine, "upgrade", "0008")  # not head: a later revision's downgrade would run first
        columns = {c["name"] for c in inspect(engine).get_columns("artifacts")}
        assert {"key_id", "wrapped_key", "blob"} <= columns
        assert {"signature", "signing_key_id"} <= {
            c["name"] for c in inspect(engine).get_columns("model_versions")
        }
        with engine.begin() as conn:
            assert conn.execute(text("SELECT key_id, blob FROM artifacts")).one() == (None, None)
            conn.execute(text("UPDATE artifacts SET key_id = 'k', wrapped_key = 'w', blob = 'b'"))
        with pytest.raises(RuntimeError, match="1 artifacts are encrypted"):
            run_alembic(engine, "downgrade", "0007")
        with engine.begin() as conn:
            conn.execute(text("UPDATE artifacts SET key_id = NULL, wrapped_key = NULL, blob = NULL"))
        run_alembic(engine, "downgrade", "0007")
        assert "key_id" not in {c["name"] for c in inspect(engine).get_columns("artifacts")}
    finally:
        engine.dispose()


def test_migration_0008_on_sqlite(tmp_path: Path) -> None:
    _check(f"sqlite:///{tmp_path / 'mp.db'}")


def test_migration_0008_on_postgres(pg_database: str) -> None:
    _check(pg_database)
