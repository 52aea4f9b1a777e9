"""The migrations and a full ingest -> train -> register -> alias -> evaluate round trip on PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from modelplane.local import Local

PG_URL = os.environ.get("MODELPLANE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


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


def test_train_and_register_round_trip_on_postgres(pg_database: str, tmp_path: Path) -> None:
    platform = Local(tmp_path / "home", database_url=pg_database)
    try:
        tables = set(inspect(platform.store.db.engine).get_table_names())
        assert {"modelplane_schema_version", "datasets", "model_versions", "aliases"} <= tables

        added = platform.datasets.add("iris", source="builtin:iris")
        assert added.created and added.version.num_rows == 150
        assert not platform.datasets.add("iris", source="builtin:iris").created

        run = platform.train(data="iris", model="logreg")
        assert run.status == "succeeded" and run.model_version == "iris-logreg@1"
        torch_run = platform.train(data="iris", model="mlp", train={"epochs": 3})
        assert torch_run.history and torch_run.model_version == "iris-mlp@1"

        platform.models.alias("iris-logreg@1", "production")
        version = platform.models.version("iris-logreg@production")
        assert version.dataset == "iris@1" and version.run_id == run.id
        report = platform.evaluate("iris-logreg@production", "iris")
        assert report.metrics["accuracy"] > 0.8
    finally:
        platform.close()
