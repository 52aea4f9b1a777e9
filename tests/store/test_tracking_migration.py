"""Migration 0010: runs may have no dataset and gain name/experiment/params/tags; experiments, metric points,
run artifacts and logged models appear. Going back is refused while a tracked run (one without a dataset)
exists, and the refusal leaves the schema as it was."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from modelplane.store.db import create_db_engine, run_alembic

NOW = "2027-01-01 10:00:00"
TABLES = {"experiments", "run_metric_points", "run_artifacts", "logged_models"}


def _check(url: str) -> None:
    engine = create_db_engine(url)
    try:
        run_alembic(engine, "upgrade", "0008")
        run_alembic(engine, "upgrade", "head")
        assert set(inspect(engine).get_table_names()) >= TABLES
        columns = {c["name"]: c for c in inspect(engine).get_columns("runs")}
        assert {"name", "experiment_id", "params", "tags"} <= set(columns)
        assert columns["dataset_version_id"]["nullable"]
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO runs (id, status, model_name, kind, dataset_version_id, spec, config, "
                    "split, metrics, started_at, created_by) "
                    "VALUES ('t1', 'running', '', 'tracked', NULL, '{}', '{}', '{}', '{}', :t, '')"
                ),
                {"t": NOW},
            )
        with pytest.raises(RuntimeError, match="1 tracked runs"):
            run_alembic(engine, "downgrade", "0008")
        assert set(inspect(engine).get_table_names()) >= TABLES  # the refusal changed nothing
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM runs"))
        run_alembic(engine, "downgrade", "0008")
        assert not TABLES & set(inspect(engine).get_table_names())
        assert "params" not in {c["name"] for c in inspect(engine).get_columns("runs")}
    finally:
        engine.dispose()


def test_migration_0010_on_sqlite(tmp_path: Path) -> None:
    _check(f"sqlite:///{tmp_path / 'mp.db'}")


def test_migration_0010_on_postgres(pg_database: str) -> None:
    _check(pg_database)
