"""Migration 0009: models gain `deleted_at` and a retention policy (NULL, and keep_aliased false, for what
came before), and lose them going back."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, text

from modelplane.store.db import create_db_engine, run_alembic


def _check(url: str) -> None:
    engine = create_db_engine(url)
    try:
        run_alembic(engine, "upgrade", "0008")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO models (id, name, task, created_at) "
                    "VALUES (1, 'm', 'classification', '2027-01-01')"
                )
            )
        run_alembic(engine, "upgrade", "0009")
        with engine.begin() as conn:
            row = conn.execute(text("SELECT deleted_at, keep_last, keep_aliased FROM models")).one()
        assert tuple(row) == (None, None, False)
        run_alembic(engine, "downgrade", "0008")
        assert "keep_last" not in {c["name"] for c in inspect(engine).get_columns("models")}
    finally:
        engine.dispose()


def test_migration_0009_on_sqlite(tmp_path: Path) -> None:
    _check(f"sqlite:///{tmp_path / 'mp.db'}")


def test_migration_0009_on_postgres(pg_database: str) -> None:
    _check(pg_database)
