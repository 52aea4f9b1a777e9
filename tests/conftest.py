"""Shared fixtures: every test gets its own MODELPLANE_HOME (a temp folder) and store; PostgreSQL tests
get a scratch database of their own."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from modelplane.cli.context import platform
from modelplane.config import get_settings
from modelplane.store import Store

PG_URL = os.environ.get("MODELPLANE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "mp-home"
    monkeypatch.setenv("MODELPLANE_HOME", str(home))
    monkeypatch.delenv("MODELPLANE_DATABASE_URL", raising=False)
    monkeypatch.delenv("MODELPLANE_ARTIFACT_ROOT", raising=False)
    get_settings.cache_clear()
    platform.cache_clear()
    yield home
    get_settings.cache_clear()
    platform.cache_clear()


@pytest.fixture
def store(isolated_home: Path) -> Iterator[Store]:
    opened = Store.from_settings()
    yield opened
    opened.close()


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database per test, dropped afterwards; skipped (never in CI) when no server answers.
    The server is MODELPLANE_TEST_PG_URL (default: this project's CI server, database `test`)."""
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


@pytest.fixture(scope="session")
def ray_address() -> Iterator[str]:
    """A Ray head on the loopback address: CI's (MODELPLANE_TEST_RAY_ADDRESS, started by .ci/run), else one
    this test session starts and stops. Skipped only outside CI, and only when Ray is not installed."""
    from tests.ray_head import ray_head

    with ray_head() as address:
        yield address


@pytest.fixture
def on_ray(ray_address: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """This test's platform sends its jobs to the Ray head (as MODELPLANE_RAY_ADDRESS does for a user), and
    the head's workers import this checkout's tests as well as its modelplane."""
    monkeypatch.setenv("MODELPLANE_RAY_ADDRESS", ray_address)
    root = str(Path(__file__).resolve().parents[1])
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p))
    get_settings.cache_clear()
    platform.cache_clear()
    return ray_address
