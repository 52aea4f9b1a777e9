from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, inspect, text

from modelplane.store.db import MIGRATIONS_DIR, Database

SECURITY_TABLES = {"api_keys", "api_key_generation", "usage", "audit", "audit_head"}


def _alembic(engine: Engine, action: str, revision: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        getattr(command, action)(cfg, revision)


def _check_round_trip(db: Database) -> None:
    engine = db.engine
    assert set(inspect(engine).get_table_names()) >= SECURITY_TABLES
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM modelplane_schema_version")).scalar() == "0005"
        assert conn.execute(text("SELECT seq, hash FROM audit_head")).one() == (0, "0" * 64)
        assert conn.execute(text("SELECT generation FROM api_key_generation")).scalar() == 0
    _alembic(engine, "downgrade", "0002")
    assert not SECURITY_TABLES & set(inspect(engine).get_table_names())
    _alembic(engine, "upgrade", "head")
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
