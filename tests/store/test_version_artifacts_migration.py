"""Migration 0006: a version's artifacts move from the weights_sha/onnx_sha columns to rows, and back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, select, text

from modelplane.registry.views import version_view
from modelplane.store.db import Database, create_db_engine, run_alembic
from modelplane.store.orm import ModelVersion

SHA = {name: name[0] * 64 for name in ("weights", "onnx", "skops", "int8")}
SIZE = {"weights": 100, "onnx": 200, "skops": 300, "int8": 50}
NOW = "2026-12-01 10:00:00"


def _versions_at_0005(engine: Engine) -> None:
    """What 0005 held: a torch version with its ONNX graph, a scikit-learn one without, and its int8 child
    whose weights are its graph; an alias points at the first (the table rebuild must keep it)."""
    with engine.begin() as conn:
        for name, sha in SHA.items():
            conn.execute(
                text("INSERT INTO artifacts (sha256, size, created_at) VALUES (:s, :n, :t)"),
                {"s": sha, "n": SIZE[name], "t": NOW},
            )
        conn.execute(
            text(
                "INSERT INTO models (id, name, task, created_at) "
                "VALUES (1, 'digits', 'classification', :t)"
            ),
            {"t": NOW},
        )
        rows = [
            (1, "torch", SHA["weights"], SHA["onnx"], None, None),
            (2, "sklearn", SHA["skops"], None, "skl2onnx cannot convert it", None),
            (3, "onnx", SHA["int8"], SHA["int8"], None, 1),
        ]
        for version, framework, weights, onnx, note, parent in rows:
            conn.execute(
                text(
                    "INSERT INTO model_versions (id, model_id, version, framework, kind, spec, params, "
                    "metrics, weights_sha, onnx_sha, onnx_note, parent_version_id, created_at, created_by) "
                    "VALUES (:v, 1, :v, :f, 'mlp', :spec, '{}', '{}', :w, :o, :note, :p, :t, 'me')"
                ),
                {
                    "v": version,
                    "f": framework,
                    "spec": '{"input_shape": [8, 8], "num_outputs": 10}',
                    "w": weights,
                    "o": onnx,
                    "note": note,
                    "p": parent,
                    "t": NOW,
                },
            )
        conn.execute(
            text(
                "INSERT INTO aliases (model_id, name, version_id, updated_at, updated_by) "
                "VALUES (1, 'production', 1, :t, 'me')"
            ),
            {"t": NOW},
        )


EXPECTED_ROWS = {
    (1, "safetensors", SHA["weights"], SIZE["weights"]),
    (1, "onnx", SHA["onnx"], SIZE["onnx"]),
    (2, "skops", SHA["skops"], SIZE["skops"]),
    (3, "onnx", SHA["int8"], SIZE["int8"]),
}
OLD_COLUMNS = {
    1: (SHA["weights"], SHA["onnx"]),
    2: (SHA["skops"], None),
    3: (SHA["int8"], SHA["int8"]),
}


def _rows(engine: Engine) -> set[tuple[object, ...]]:
    with engine.connect() as conn:
        found = conn.execute(text("SELECT version_id, format, sha256, size FROM model_version_artifacts"))
        return {tuple(row) for row in found}


def _old_columns(engine: Engine) -> dict[int, tuple[str | None, str | None]]:
    with engine.connect() as conn:
        found = conn.execute(text("SELECT id, weights_sha, onnx_sha FROM model_versions"))
        return {row[0]: (row[1], row[2]) for row in found}


def _check_upgrade_and_downgrade(url: str) -> None:
    engine = create_db_engine(url)
    try:
        run_alembic(engine, "upgrade", "0005")
        _versions_at_0005(engine)
        run_alembic(engine, "upgrade", "0006")
        assert _rows(engine) == EXPECTED_ROWS
        columns = {c["name"] for c in inspect(engine).get_columns("model_versions")}
        assert not {"weights_sha", "onnx_sha"} & columns
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version_id FROM aliases")).scalar() == 1
        _check_views(url)

        run_alembic(engine, "downgrade", "0005")
        assert "model_version_artifacts" not in inspect(engine).get_table_names()
        assert _old_columns(engine) == OLD_COLUMNS
        foreign = inspect(engine).get_foreign_keys("model_versions")
        assert {("weights_sha",), ("onnx_sha",)} <= {tuple(fk["constrained_columns"]) for fk in foreign}

        run_alembic(engine, "upgrade", "head")
        assert _rows(engine) == EXPECTED_ROWS
    finally:
        engine.dispose()


def _check_views(url: str) -> None:
    """The registry reads the rows: formats, sizes, and the weights/ONNX shas its readers know."""
    db = Database(url)
    try:
        with db.session() as session:
            views = {row.id: version_view(session, row) for row in session.scalars(select(ModelVersion))}
        assert {v: (views[v].weights_sha, views[v].onnx_sha) for v in views} == OLD_COLUMNS
        assert views[1].artifacts["safetensors"].size == SIZE["weights"]
        assert sorted(views[3].artifacts) == ["onnx"]
        assert views[2].onnx_note == "skl2onnx cannot convert it"
    finally:
        db.close()


def test_migration_0006_on_sqlite(tmp_path: Path) -> None:
    _check_upgrade_and_downgrade(f"sqlite:///{tmp_path / 'mp.db'}")


def test_migration_0006_on_postgres(pg_database: str) -> None:
    _check_upgrade_and_downgrade(pg_database)


@pytest.fixture
def migrated(tmp_path: Path) -> Iterator[Database]:
    db = Database(f"sqlite:///{tmp_path / 'mp.db'}")
    yield db
    db.close()


@pytest.mark.parametrize("table", ["model_versions", "model_version_artifacts"])
def test_orm_and_migration_agree(migrated: Database, table: str) -> None:
    from modelplane.store.orm import Base

    columns = {c["name"] for c in inspect(migrated.engine).get_columns(table)}
    assert columns == {c.name for c in Base.metadata.tables[table].columns}
