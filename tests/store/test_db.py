from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from modelplane.errors import Invalid
from modelplane.store.db import Database
from modelplane.store.orm import Dataset


def test_sqlite_is_migrated_and_in_wal_mode(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'sub' / 'mp.db'}")
    tables = set(inspect(db.engine).get_table_names())
    assert {
        "datasets",
        "dataset_versions",
        "runs",
        "run_metrics",
        "models",
        "model_versions",
        "aliases",
        "alias_events",
        "artifacts",
        "modelplane_schema_version",
    } <= tables
    with db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    db.close()
    Database(f"sqlite:///{tmp_path / 'sub' / 'mp.db'}").close()  # re-opening migrates nothing twice


def test_session_rolls_back_on_error(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'mp.db'}")
    with pytest.raises(RuntimeError), db.session() as session:
        session.add(Dataset(name="kept-out"))
        session.flush()
        raise RuntimeError("boom")
    with db.session() as session:
        assert session.query(Dataset).count() == 0


def test_bad_url_is_invalid() -> None:
    with pytest.raises(Invalid, match="database URL"):
        Database("not a url at all")
