"""Engine and sessions: SQLite (WAL) by default, any SQLAlchemy URL otherwise; migrated on open."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from modelplane.errors import IntegrityError, Invalid

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
VERSION_TABLE = "modelplane_schema_version"  # migrations/env.py names it; Optuna owns alembic_version
_REVISION = re.compile(r'^(down_revision|revision) = (?:"([^"]+)"|None)$', re.MULTILINE)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def create_db_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets WAL and foreign keys, its parent folder is created."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy raises ArgumentError for malformed URLs
        raise Invalid(
            f"database URL {url!r} is not valid ({exc}); use e.g. sqlite:///path/db or "
            "postgresql+psycopg://user@host/db"
        ) from exc
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.drivername == "postgresql":  # no driver named: psycopg 3, which the postgres extra installs
        parsed = parsed.set(drivername="postgresql+psycopg")
    return create_engine(parsed, pool_pre_ping=True)


@cache
def head_revision() -> str:
    """The newest migration, read from the scripts' `revision`/`down_revision` lines (no Alembic import)."""
    revisions, parents = set(), set()
    for script in (MIGRATIONS_DIR / "versions").glob("*.py"):
        fields = {name: value for name, value in _REVISION.findall(script.read_text())}
        revisions.add(fields["revision"])
        parents.add(fields.get("down_revision"))
    [head] = revisions - parents
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; None when it has never been migrated."""
    with engine.connect() as connection:
        if not inspect(connection).has_table(VERSION_TABLE):
            return None
        return connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision (idempotent). A database already there is left as
    is without importing Alembic, which costs every process that opens the store ~0.3 s."""
    if current_revision(engine) == head_revision():
        return
    run_alembic(engine, "upgrade", "head")


def run_alembic(engine: Engine, action: str, revision: str) -> None:
    """Run Alembic's `action` ("upgrade", "downgrade") to `revision` in one transaction.

    SQLite drops a column by rebuilding the table (Alembic's batch mode), and dropping the old copy while
    rows elsewhere point at it fails with foreign keys on. So, as SQLite's own procedure for schema changes
    says, they are off while the migration runs (a setting of the connection, made outside the
    transaction) and every reference is checked before it commits.
    """
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            with _sqlite_transactional_ddl(connection):
                cfg.attributes["connection"] = connection
                getattr(command, action)(cfg, revision)
                _check_references(connection)
            return
        with connection.begin():
            cfg.attributes["connection"] = connection
            getattr(command, action)(cfg, revision)


@contextmanager
def _sqlite_transactional_ddl(connection: Connection) -> Iterator[None]:
    """One SQLite transaction that holds DDL too, begun with the database's write lock.

    Python's sqlite3 (before 3.12's `autocommit`) begins a transaction only at the first INSERT, UPDATE
    or DELETE, so a CREATE or DROP ahead of it commits on its own and a later failure cannot undo it.
    With the driver's own transaction handling off (`isolation_level = None`) the BEGIN is ours, at the
    start; IMMEDIATE makes a second process migrating at the same time wait, then read the revision this
    one wrote and find nothing to do. Only this connection changes, and only until the block ends: the
    app's sessions keep the driver's handling, which `serialise` relies on.
    """
    raw = cast(sqlite3.Connection, connection.connection.driver_connection)  # checked out: not None
    previous = raw.isolation_level
    raw.isolation_level = None
    try:
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")  # a no-op inside a transaction
        connection.commit()  # ends SQLAlchemy's autobegun transaction; the driver had none open
        with connection.begin():
            connection.exec_driver_sql("BEGIN IMMEDIATE")
            yield
    finally:
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        connection.commit()
        raw.isolation_level = previous


def _check_references(connection: Connection) -> None:
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        tables = sorted({row[0] for row in broken})
        raise IntegrityError(
            f"a migration left rows of {', '.join(tables)} pointing at rows that do not exist; "
            "nothing was changed (report this with the database's revision)"
        )


class Database:
    """Owns the engine and hands out transactional sessions."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_db_engine(url)
        migrate(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back on any error."""
        with self._sessions.begin() as session:
            yield session

    def close(self) -> None:
        self.engine.dispose()


def serialise(session: Session, key: str) -> None:
    """Make writers of the thing `key` names queue here, in this and every other process, until this
    transaction ends; call it before the session reads what it will change, so what it reads is what
    the previous writer committed (a read-then-write in two processes otherwise loses one of them).

    PostgreSQL: a transaction-scoped advisory lock on a hash of `key` (it works for rows that do not exist
    yet; reads after it see the newest commits, at READ COMMITTED). SQLite: BEGIN IMMEDIATE, the database's
    write lock (SQLite has no finer lock, and its driver otherwise begins a transaction only at the first
    write, after the reads); a transaction that has written already holds it.
    """
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key})
    elif connection.dialect.name == "sqlite":
        raw = connection.connection.driver_connection
        if raw is not None and not raw.in_transaction:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
