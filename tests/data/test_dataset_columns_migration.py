"""Migration 0007: dataset versions gain `columns` and `ingest_options` (NULL for versions added before),
on SQLite and PostgreSQL, and back."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, text

from modelplane.data.catalog import get_version
from modelplane.store import Store
from modelplane.store.db import Database, create_db_engine, run_alembic
from modelplane.store.orm import Base

NOW = "2026-12-01 10:00:00"


def _a_version_at_0006(url: str) -> None:
    engine = create_db_engine(url)
    try:
        run_alembic(engine, "upgrade", "0006")
        with engine.begin() as conn:
            conn.execute(
                text("INSERT INTO artifacts (sha256, size, created_at) VALUES (:s, 10, :t)"),
                {"s": "f" * 64, "t": NOW},
            )
            conn.execute(
                text("INSERT INTO datasets (id, name, created_at) VALUES (1, 'old', :t)"), {"t": NOW}
            )
            conn.execute(
                text(
                    "INSERT INTO dataset_versions (id, dataset_id, version, content_hash, num_rows, "
                    "new_rows_start, source, format, feature_names, feature_shape, feature_dtype, stats, "
                    "features_sha, created_at, created_by) VALUES (1, 1, 1, :h, 3, 0, 'x.npz', 'npz', "
                    "'[]', '[4]', 'float32', '{}', :s, :t, 'me')"
                ),
                {"h": "a" * 64, "s": "f" * 64, "t": NOW},
            )
    finally:
        engine.dispose()


def _check(url: str, tmp_path: Path) -> None:
    _a_version_at_0006(url)
    Database(url).close()  # opening upgrades to head
    engine = create_db_engine(url)
    try:
        columns = {c["name"] for c in inspect(engine).get_columns("dataset_versions")}
        assert {"columns", "ingest_options"} <= columns
        assert columns == {c.name for c in Base.metadata.tables["dataset_versions"].columns}
        store = Store(url, tmp_path / "artifacts", tmp_path / "runs")
        try:
            old = get_version(store, "old@1")
            assert old.columns is None and old.ingest_options == {} and old.feature_dtype == "float32"
        finally:
            store.close()
        run_alembic(engine, "downgrade", "0006")
        assert not {"columns", "ingest_options"} & {
            c["name"] for c in inspect(engine).get_columns("dataset_versions")
        }
        run_alembic(engine, "upgrade", "head")
    finally:
        engine.dispose()


def test_migration_0007_on_sqlite(tmp_path: Path) -> None:
    _check(f"sqlite:///{tmp_path / 'mp.db'}", tmp_path)


def test_migration_0007_on_postgres(pg_database: str, tmp_path: Path) -> None:
    _check(pg_database, tmp_path)
