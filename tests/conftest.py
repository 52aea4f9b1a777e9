"""Shared fixtures: every test gets its own MODELPLANE_HOME (a temp folder) and store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modelplane.cli.context import platform
from modelplane.config import get_settings
from modelplane.store import Store


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
