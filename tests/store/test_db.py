from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from modelplane.errors import Invalid
from modelplane.store.db import MIGRATIONS_DIR, Database, current_revision, head_revision, run_alembic
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


def test_head_revision_is_alembics_head() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert head_revision() == ScriptDirectory.from_config(config).get_current_head()


def test_an_older_database_is_upgraded_on_open(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'mp.db'}"
    db = Database(url)
    run_alembic(db.engine, "downgrade", "0003")
    assert current_revision(db.engine) == "0003"
    db.close()
    db = Database(url)
    assert current_revision(db.engine) == head_revision()
    assert "jobs" in inspect(db.engine).get_table_names()
    db.close()


def test_opening_a_current_database_does_not_importrun_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'mp.db'}"
    Database(url).close()
    opened = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys; from modelplane.store.db import Database; Database({url!r}).close(); "
            "print('alembic' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert opened.stdout.strip() == "False"
