"""The migrations and a full ingest -> train -> register -> alias -> evaluate round trip on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect

from modelplane.local import Local


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
