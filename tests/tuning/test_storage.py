"""Optuna's tables and migration history live beside modelplane's in one database: SQLite and PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError

from modelplane.local import Local
from modelplane.store import Store
from modelplane.tuning.storage import open_storage, storage_url

PG_URL = os.environ.get("MODELPLANE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SHARED = {"alembic_version", "modelplane_schema_version", "studies", "trials", "runs", "model_versions"}


def _versions(engine: Engine) -> tuple[str, str]:
    with engine.connect() as conn:
        optuna_rev = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        ours = conn.execute(text("SELECT version_num FROM modelplane_schema_version")).scalar_one()
    return optuna_rev, ours


def test_optuna_and_modelplane_share_one_sqlite_file(store: Store) -> None:
    ours_before = (
        _versions(store.db.engine)[1]
        if "alembic_version" in inspect(store.db.engine).get_table_names()
        else None
    )
    open_storage(storage_url(store))
    assert set(inspect(store.db.engine).get_table_names()) >= SHARED
    optuna_rev, ours = _versions(store.db.engine)
    assert ours_before in (None, ours) and optuna_rev != ours
    reopened = Store(store.db.url, store.artifacts.root, store.runs_dir)  # our migrations run again
    try:
        assert _versions(reopened.db.engine) == (optuna_rev, ours)
        open_storage(storage_url(reopened))  # and Optuna's version check passes
    finally:
        reopened.close()


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh database per test, dropped afterwards; skipped (never in CI) when no server answers."""
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


def test_study_on_postgres(pg_database: str, tmp_path: Path) -> None:
    platform = Local(tmp_path / "home", database_url=pg_database)
    try:
        platform.datasets.add("iris", source="builtin:iris")
        study = platform.tune(data="iris", model="logreg", trials=2)
        assert study.trials_done == 2 and study.model_version == "iris-logreg@1"
        assert platform.models.version("iris-logreg@1").params["tuning"]["study"] == study.name
        assert [s.name for s in platform.studies.list()] == [study.name]
        assert set(inspect(platform.store.db.engine).get_table_names()) >= SHARED
        optuna_rev, ours = _versions(platform.store.db.engine)
        assert optuna_rev != ours
    finally:
        platform.close()
