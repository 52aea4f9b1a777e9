from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from modelplane.store.db import Database, head_revision, run_alembic

SECURITY_TABLES = {"api_keys", "api_key_generation", "usage", "audit", "audit_head"}


def _check_round_trip(db: Database) -> None:
    engine = db.engine
    assert set(inspect(engine).get_table_names()) >= SECURITY_TABLES
    with engine.connect() as conn:
        revision = conn.execute(text("SELECT version_num FROM modelplane_schema_version")).scalar()
        assert revision == head_revision()
        assert conn.execute(text("SELECT seq, hash FROM audit_head")).one() == (0, "0" * 64)
        assert conn.execute(text("SELECT generation FROM api_key_generation")).scalar() == 0
    run_alembic(engine, "downgrade", "0002")
    assert not SECURITY_TABLES & set(inspect(engine).get_table_names())
    run_alembic(engine, "upgrade", "head")
    assert set(inspect(engine).get_table_names()) >= SECURITY_TABLES


def test_migration_0003_on_sqlite(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'mp.db'}")
    try:
        _check_round_trip(db)
    finally:
        db.close()


def test_migration_0003_on_postgres(pg_database: str) -> None:
    db = Database(pg_database)
    try:
        _check_round_trip(db)
        unique = {tuple(c["column_names"]) for c in inspect(db.engine).get_unique_constraints("usage")}
        assert ("key_id", "deployment", "version", "day", "status") in unique
    finally:
        db.close()


@pytest.mark.parametrize("table", sorted(SECURITY_TABLES))
def test_orm_and_migration_agree(tmp_path: Path, table: str) -> None:
    from modelplane.store.orm import Base

    db = Database(f"sqlite:///{tmp_path / 'mp.db'}")
    try:
        migrated = {c["name"] for c in inspect(db.engine).get_columns(table)}
        assert migrated == {c.name for c in Base.metadata.tables[table].columns}
    finally:
        db.close()
