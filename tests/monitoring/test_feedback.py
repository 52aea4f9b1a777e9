"""Feedback: a batch is checked whole, unknown ids are reported while the rest land, and a row labelled
again keeps its last label."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from modelplane.errors import Invalid, NotFound, PayloadTooLarge
from modelplane.local import Local
from modelplane.monitoring.feedback import MAX_ITEMS, FeedbackItem, record_feedback
from modelplane.monitoring.log_ids import clear_cache
from modelplane.store.orm import Feedback
from tests.monitoring.log_helpers import at, served, write_log  # noqa: F401 (the fixture)

IRIS = ["setosa", "versicolor", "virginica"]


@pytest.fixture
def home(served: Local, tmp_path: Path) -> Path:  # noqa: F811
    """A log home of this test's own: iris requests r0..r9 (two rows each), diab requests d0..d4."""
    root = tmp_path / "logs"
    rows = [
        {"request_id": f"r{i}", "row": n, "time": at(i), "label": IRIS[i % 3]}
        for i in range(10)
        for n in (0, 1)
    ]
    write_log(root, "iris", rows, classes=IRIS)
    write_log(
        root, "diab", [{"request_id": f"d{i}", "time": at(i), "prediction": 100.0 + i} for i in range(5)]
    )
    clear_cache()
    with served.store.db.session() as session:
        session.execute(Feedback.__table__.delete())
    return root


def stored(local: Local, deployment: str) -> dict[tuple[str, int], tuple[str | None, float | None]]:
    with local.store.db.session() as session:
        rows = session.execute(
            select(Feedback.request_id, Feedback.row, Feedback.label, Feedback.value).where(
                Feedback.deployment == deployment
            )
        )
        return {(r, n): (label, value) for r, n, label, value in rows}


def test_labels_land_and_a_second_label_replaces_the_first(served: Local, home: Path) -> None:  # noqa: F811
    first = record_feedback(
        served.store,
        home,
        "iris",
        [{"request_id": "r1", "label": "setosa"}, {"request_id": "r1", "row": 1, "label": "virginica"}],
        key_id="k1",
    )
    assert (first.accepted, first.replaced, first.unknown) == (2, 0, 0)
    again = record_feedback(
        served.store, home, "iris", [FeedbackItem("r1", 0, label="versicolor")], key_id=None
    )
    assert (again.accepted, again.replaced) == (1, 1)
    assert stored(served, "iris") == {("r1", 0): ("versicolor", None), ("r1", 1): ("virginica", None)}


def test_within_one_batch_the_last_label_wins(served: Local, home: Path) -> None:  # noqa: F811
    result = record_feedback(
        served.store,
        home,
        "iris",
        [{"request_id": "r2", "label": "setosa"}, {"request_id": "r2", "label": "virginica"}],
        key_id=None,
    )
    assert result.accepted == 1
    assert stored(served, "iris") == {("r2", 0): ("virginica", None)}


def test_unknown_ids_are_counted_and_listed_and_the_rest_land(served: Local, home: Path) -> None:  # noqa: F811
    items = [{"request_id": f"nope-{i}", "label": "setosa"} for i in range(25)]
    items += [{"request_id": "r3", "label": "setosa"}, {"request_id": "r3", "row": 5, "label": "setosa"}]
    result = record_feedback(served.store, home, "iris", items, key_id=None)
    assert (result.accepted, result.unknown) == (1, 26)
    assert result.unknown_ids[:2] == ["nope-0", "nope-1"] and len(result.unknown_ids) == 20
    assert stored(served, "iris") == {("r3", 0): ("setosa", None)}


def test_integer_labels_are_class_indexes_unless_the_classes_are_numbers(
    served: Local,  # noqa: F811
    home: Path,
) -> None:
    record_feedback(served.store, home, "iris", [{"request_id": "r4", "label": 2}], key_id=None)
    assert stored(served, "iris") == {("r4", 0): ("virginica", None)}


def test_regression_values(served: Local, home: Path) -> None:  # noqa: F811
    result = record_feedback(served.store, home, "diab", [{"request_id": "d1", "value": 120}], key_id=None)
    assert result.accepted == 1
    assert stored(served, "diab") == {("d1", 0): (None, 120.0)}


@pytest.mark.parametrize(
    ("deployment", "item", "message"),
    [
        ("iris", {"label": "setosa"}, "item 1 needs a request_id"),
        ("iris", {"request_id": 7, "label": "setosa"}, "item 1 needs a request_id"),
        ("iris", {"request_id": "r1"}, "item 1 has no label"),
        ("iris", {"request_id": "r1", "label": "tulip"}, "item 1 has label 'tulip', not one of the model's"),
        ("iris", {"request_id": "r1", "label": 3}, "item 1 has label index 3, outside 0..2"),
        ("iris", {"request_id": "r1", "label": 1.5}, "item 1 has a label of type float"),
        (
            "iris",
            {"request_id": "r1", "value": 2.0},
            "item 1 has a value, but the deployment is a classifier",
        ),
        ("iris", {"request_id": "r1", "row": -1, "label": "setosa"}, "item 1 has row -1"),
        ("iris", {"request_id": "r1", "label": "setosa", "extra": 1}, "item 1 has unknown field(s) extra"),
        ("iris", "r1", "item 1 is a str"),
        ("diab", {"request_id": "d1", "label": "x"}, "item 1 has a label, but the deployment is a regressor"),
        ("diab", {"request_id": "d1", "value": "12"}, "item 1 has value '12'; send the true value"),
        ("diab", {"request_id": "d1", "value": float("nan")}, "item 1 has value nan"),
    ],
)
def test_a_bad_item_refuses_the_whole_batch(
    served: Local,  # noqa: F811
    home: Path,
    deployment: str,
    item: object,
    message: str,
) -> None:
    good = (
        {"request_id": "r0", "label": "setosa"} if deployment == "iris" else {"request_id": "d0", "value": 1}
    )
    with pytest.raises(Invalid, match=message.replace("(", r"\(").replace(")", r"\)")):
        record_feedback(served.store, home, deployment, [good, item], key_id=None)  # type: ignore[list-item]
    assert stored(served, deployment) == {}


def test_too_many_items_is_413_and_stores_nothing(served: Local, home: Path) -> None:  # noqa: F811
    items = [{"request_id": "r0", "label": "setosa"}] * (MAX_ITEMS + 1)
    with pytest.raises(PayloadTooLarge, match="send at most 100,000 per request"):
        record_feedback(served.store, home, "iris", items, key_id=None)
    with served.store.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Feedback)) == 0


def test_an_unknown_deployment_is_not_found(served: Local, home: Path) -> None:  # noqa: F811
    with pytest.raises(NotFound, match="deployment 'ghost' does not exist"):
        record_feedback(served.store, home, "ghost", [], key_id=None)


def test_ids_in_an_open_segment_are_known(served: Local, home: Path) -> None:  # noqa: F811
    """The writer's open Arrow stream (not yet rotated to Parquet) counts: a label may follow within
    seconds."""
    import pyarrow as pa
    import pyarrow.ipc as ipc
    import pyarrow.parquet as pq

    closed = next((home / "monitoring" / "iris").glob("*/*.parquet"))
    table = pq.read_table(closed).slice(0, 1)
    table = table.set_column(0, "request_id", pa.array(["fresh"]))
    with ipc.new_stream(str(closed.with_name("9-2-b.arrows")), table.schema) as writer:
        writer.write_table(table)
    result = record_feedback(
        served.store, home, "iris", [{"request_id": "fresh", "label": "setosa"}], key_id=None
    )
    assert (result.accepted, result.unknown) == (1, 0)
