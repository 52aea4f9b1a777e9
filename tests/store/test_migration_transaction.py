"""A migration that fails halfway on SQLite leaves the schema and its revision exactly as they were, even
when its first steps are DDL (Python's sqlite3 would otherwise commit those on their own)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from modelplane.store import db as store_db
from modelplane.store.db import Database, current_revision, head_revision, run_alembic, serialise

REAL_HEAD = head_revision()
FAILING = """
import sqlalchemy as sa
from alembic import op

revision = "9999"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("scratch", sa.Column("id", sa.Integer(), primary_key=True))
    op.add_column("datasets", sa.Column("extra", sa.Text(), nullable=True))
    with op.batch_alter_table("aliases") as batch:  # SQLite rebuilds the table: copy, drop, rename
        batch.alter_column("name", type_=sa.String(length=300))
    op.drop_table("webhook_deliveries")
    raise RuntimeError("step 4 of 9999 failed")


def downgrade() -> None:
    op.drop_table("webhook_deliveries")
    op.execute("DELETE FROM datasets")
    raise RuntimeError("going back from 9999 failed")
"""


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    """A database at the real head with a row in it; then the migrations gain a test-only revision on
    top that fails after some DDL."""
    db = Database(f"sqlite:///{tmp_path / 'mp.db'}")
    with db.engine.begin() as conn:
        conn.execute(text("INSERT INTO datasets (name, created_at) VALUES ('kept', '2027-01-01')"))
    scripts = tmp_path / "migrations"
    shutil.copytree(store_db.MIGRATIONS_DIR, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    (scripts / "versions" / "9999_fails.py").write_text(FAILING.format(head=REAL_HEAD))
    monkeypatch.setattr(store_db, "MIGRATIONS_DIR", scripts)
    yield db
    db.close()


def _schema(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT name, sql FROM sqlite_master ORDER BY name")).all()
    return [(name, sql) for name, sql in rows]


def test_an_upgrade_that_fails_after_ddl_changes_nothing(db: Database) -> None:
    before = _schema(db.engine)
    with pytest.raises(RuntimeError, match="step 4 of 9999 failed"):
        run_alembic(db.engine, "upgrade", "9999")
    assert _schema(db.engine) == before
    assert current_revision(db.engine) == REAL_HEAD
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT name FROM datasets")).scalars().all() == ["kept"]


def test_a_downgrade_that_fails_after_ddl_changes_nothing(db: Database) -> None:
    with db.engine.begin() as conn:  # as if 9999 had been applied: its downgrade is what runs
        conn.execute(text(f"UPDATE {store_db.VERSION_TABLE} SET version_num = '9999'"))
    before = _schema(db.engine)
    with pytest.raises(RuntimeError, match="going back from 9999 failed"):
        run_alembic(db.engine, "downgrade", REAL_HEAD)
    assert _schema(db.engine) == before
    assert current_revision(db.engine) == "9999"
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM datasets")).scalar() == 1


def test_the_app_connections_keep_their_transaction_handling_after_a_migration(tmp_path: Path) -> None:
    """The migration's own transaction handling stays on its connection: afterwards the pooled
    connection is back to the driver's default, which `serialise` relies on, and foreign keys are on."""
    db = Database(f"sqlite:///{tmp_path / 'mp.db'}")
    run_alembic(db.engine, "downgrade", "0008")
    run_alembic(db.engine, "upgrade", "head")
    with db.session() as session:
        raw = session.connection().connection.driver_connection
        assert raw is not None
        assert raw.isolation_level == ""
        assert session.execute(text("PRAGMA foreign_keys")).scalar() == 1
        serialise(session, "datasets:x")
        assert raw.in_transaction
    db.close()


OPEN_WHEN_TOLD = """
import sys
import alembic.command  # imported ahead, so the processes reach the database together
from modelplane.store.db import Database
print("ready", flush=True)
sys.stdin.read()  # until the test closes it
Database(sys.argv[1]).close()
"""


def test_processes_opening_a_new_database_at_once_migrate_it_once(tmp_path: Path) -> None:
    """Each waits for the write lock before it reads the revision, so the later ones find the schema
    there and do nothing (instead of creating tables that exist, and failing)."""
    url = f"sqlite:///{tmp_path / 'mp.db'}"
    opening = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN_WHEN_TOLD, url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    for process in opening:
        assert process.stdout is not None and process.stdout.readline() == "ready\n"
    for process in opening:
        assert process.stdin is not None
        process.stdin.close()
    assert [process.wait(timeout=120) for process in opening] == [0, 0, 0], [
        process.stderr.read() for process in opening if process.stderr is not None
    ]
    db = Database(url)
    assert current_revision(db.engine) == REAL_HEAD
    db.close()
