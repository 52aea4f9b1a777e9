"""Feedback and live metrics against a real `modelplane up`: a consumer key that may predict on the
deployment sends labels, one scoped elsewhere is refused, bad batches answer 400/413 and store nothing,
and the live metrics per version come back to the Client."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from modelplane.client import Client
from modelplane.errors import Forbidden, Invalid, NotFound, PayloadTooLarge
from modelplane.monitoring.feedback import FeedbackItem
from tests.e2e.test_platform import Up
from tests.monitoring.log_helpers import write_log

IRIS = ["setosa", "versicolor", "virginica"]


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    server = Up(tmp_path_factory.mktemp("up-feedback"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def admin(up: Up) -> Iterator[Client]:
    client = Client(up.url, up.admin_key)
    client.datasets.add("iris", source="builtin:iris")
    client.train(data="iris", model="logreg")
    client.deploy({"model": "iris-logreg@1"}, name="iris")
    home = Path(up.log).parent
    now = datetime.now(UTC) - timedelta(minutes=5)
    names = client.datasets.get("iris").feature_names
    rows = [
        {
            "request_id": f"q{i}",
            "time": now + timedelta(seconds=i),
            "label": IRIS[i % 3],
            **{f"f:{n}": float(i + j) for j, n in enumerate(names)},
        }
        for i in range(9)
    ]
    write_log(home, "iris", rows, classes=IRIS, features=names)
    yield client
    client.close()


def test_feedback_and_live_over_http(up: Up, admin: Client) -> None:
    consumer = Client(up.url, admin.keys.create(role="consumer", name="app", deployments=["iris"]).key)
    elsewhere = Client(up.url, admin.keys.create(role="consumer", name="other", deployments=["x"]).key)

    items = [{"request_id": f"q{i}", "label": IRIS[i % 3]} for i in range(6)]  # all right
    items += [{"request_id": "q6", "label": "setosa"}, {"request_id": "nope", "label": "setosa"}]
    result = consumer.feedback.send("iris", items)
    assert (result.accepted, result.replaced, result.unknown, result.unknown_ids) == (7, 0, 1, ["nope"])
    again = consumer.feedback.send("iris", [FeedbackItem("q6", label="virginica")])  # q6 was answered setosa
    assert (again.accepted, again.replaced) == (1, 1)

    with pytest.raises(Forbidden, match="may predict only on x, not on 'iris'"):
        elsewhere.feedback.send("iris", items)
    with pytest.raises(NotFound, match="deployment 'ghost' does not exist"):
        consumer.feedback.send("ghost", items)
    with pytest.raises(Invalid, match="feedback item 1 has label 'tulip'"):
        consumer.feedback.send("iris", [items[0], {"request_id": "q7", "label": "tulip"}])
    with pytest.raises(PayloadTooLarge, match="at most 100,000"):
        consumer.feedback.send("iris", [{"request_id": "q7", "label": "setosa"}] * 100_001)

    [metrics] = admin.feedback.live("iris", window="1h")
    assert (metrics.version, metrics.model, metrics.rows, metrics.labelled) == ("1", "iris-logreg@1", 9, 7)
    assert metrics.accuracy == pytest.approx(6 / 7)
    assert (
        metrics.snapshot()["test_accuracy"]
        == admin.models.version("iris-logreg@1").metrics["test"]["accuracy"]
    )
    with pytest.raises(Forbidden):
        consumer.feedback.live("iris")

    raw = httpx.get(
        f"{up.url}/api/v1/deployments/iris/live",
        params={
            "since": (datetime.now(UTC) - timedelta(hours=2)).isoformat(),
            "until": "2020-01-01T00:00:00",
        },
        headers={"Authorization": f"Bearer {up.admin_key}"},
    )
    assert raw.status_code == 400 and "must be before until" in raw.json()["error"]
    made = admin.datasets.add("iris-prod", source="feedback:iris", since="1d")
    assert (made.version.num_rows, made.version.source, made.version.classes) == (7, "feedback:iris", IRIS)
    with pytest.raises(Forbidden):
        consumer.datasets.add("iris-prod", source="feedback:iris")
    with pytest.raises(Invalid, match="since applies to a feedback:DEPLOYMENT source only"):
        admin.datasets.add("iris-2", source="builtin:iris", since="1d")
    consumer.close()
    elsewhere.close()
