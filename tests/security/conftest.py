"""A fresh PostgreSQL database per test (skipped, never in CI, when no server answers) and a store on it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from modelplane.security.principal import Principal
from modelplane.store import Store

PG_URL = os.environ.get("MODELPLANE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture
def pg_database() -> Iterator[str]:
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        admin.connect().close()
    except OperationalError as exc:
        admin.dispose()
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL at {PG_URL} does not answer, and CI must run this test: {exc}")
        pytest.skip(f"no PostgreSQL answers at {PG_URL} (set MODELPLANE_TEST_PG_URL to run this test)")
    name = f"modelplane_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def pg_store(pg_database: str, tmp_path: Path) -> Iterator[Store]:
    opened = Store(pg_database, tmp_path / "pg-artifacts")
    yield opened
    opened.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The same test on both backends the platform supports."""
    if request.param == "sqlite":
        opened = Store(f"sqlite:///{tmp_path / 'mp.db'}", tmp_path / "artifacts")
        yield opened
        opened.close()
    else:
        yield request.getfixturevalue("pg_store")


@pytest.fixture
def admin() -> Principal:
    return Principal.local("alice")
