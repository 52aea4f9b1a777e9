"""A fresh PostgreSQL database per test (skipped, never in CI, when no server answers) and a store on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modelplane.security.principal import Principal
from modelplane.store import Store


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
