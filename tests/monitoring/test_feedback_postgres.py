"""The feedback upsert on PostgreSQL: the last label is kept, and `replaced` counts right."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from modelplane.local import Local
from modelplane.monitoring.feedback import record_feedback
from modelplane.store.orm import Feedback
from tests.monitoring.log_helpers import at, write_log

IRIS = ["setosa", "versicolor", "virginica"]


def test_labels_are_upserted_on_postgres(pg_database: str, tmp_path: Path) -> None:
    local = Local(tmp_path / "home", database_url=pg_database)
    try:
        local.datasets.add("iris", source="builtin:iris")
        local.train(data="iris", model="logreg")
        local.deploy({"model": "iris-logreg@1"}, name="iris")
        home = local.store.settings.home
        write_log(
            home,
            "iris",
            [{"request_id": f"r{i}", "time": at(i), "label": "setosa"} for i in range(3)],
            classes=IRIS,
        )
        first = record_feedback(local.store, home, "iris", [{"request_id": "r0", "label": 0}], key_id=None)
        items = [{"request_id": "r0", "label": "virginica"}, {"request_id": "r1", "label": "setosa"}]
        second = record_feedback(local.store, home, "iris", items, key_id="k")
        assert (first.accepted, first.replaced, second.accepted, second.replaced) == (1, 0, 2, 1)
        with local.store.db.session() as session:
            found = {r: label for r, label in session.execute(select(Feedback.request_id, Feedback.label))}
        assert found == {"r0": "virginica", "r1": "setosa"}
    finally:
        local.close()
