"""Optuna's tables and migration history live beside modelplane's in one database: SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from modelplane.local import Local
from modelplane.store import Store
from modelplane.tuning.storage import open_storage, storage_url

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
