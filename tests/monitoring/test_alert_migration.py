"""Migration 0013: the alert tables and the retrain policies' alert rules appear, existing policies keep
their rows, and going back removes them."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, text

from modelplane.store.db import create_db_engine, run_alembic

POLICY = (
    "INSERT INTO retrain_policies (model, dataset, trigger, gate, replay, epochs, enabled, created_at, "
    "updated_at, updated_by) VALUES ('m', 'd', 'new-data', 'accuracy>=production', 0.5, 5, 1, "
    "'2026-01-01', '2026-01-01', 'x')"
)


def test_migration_0013_adds_the_alert_tables_and_keeps_policies(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'mp.db'}")
    try:
        run_alembic(engine, "upgrade", "0011")
        with engine.begin() as conn:
            conn.execute(text(POLICY))
        run_alembic(engine, "upgrade", "0013")
        assert {"alert_rules", "alert_history"} <= set(inspect(engine).get_table_names())
        with engine.begin() as conn:
            assert conn.execute(text("SELECT model, alert_when FROM retrain_policies")).all() == [("m", None)]
        run_alembic(engine, "downgrade", "0012")
        assert "alert_rules" not in inspect(engine).get_table_names()
        columns = {c["name"] for c in inspect(engine).get_columns("retrain_policies")}
        assert "alert_when" not in columns
        with engine.begin() as conn:
            assert conn.execute(text("SELECT model FROM retrain_policies")).scalar() == "m"
    finally:
        engine.dispose()
