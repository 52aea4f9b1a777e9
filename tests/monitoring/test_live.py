"""Live metrics: logged answers joined with feedback, per version, over prediction time, beside the test
metrics the registry holds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, mean_squared_error

from modelplane.local import Local
from modelplane.monitoring.feedback import record_feedback
from modelplane.monitoring.live import live_metrics
from modelplane.monitoring.log_ids import clear_cache
from modelplane.store.orm import Feedback
from tests.monitoring.log_helpers import at, served, write_log  # noqa: F401 (the fixture)

IRIS = ["setosa", "versicolor", "virginica"]
rng = np.random.default_rng(7)
ANSWERS = [IRIS[i] for i in rng.integers(0, 3, 40)]
TRUTH = [IRIS[i] for i in rng.integers(0, 3, 40)]


@pytest.fixture
def home(served: Local, tmp_path: Path) -> Path:  # noqa: F811
    """iris: 40 requests one minute apart, every 4th answered by the canary (version 2); the first 30
    labelled. diab: 6 requests, 5 labelled."""
    root = tmp_path / "logs"
    rows = [
        {"request_id": f"r{i}", "time": at(i), "label": ANSWERS[i], "version": "2" if i % 4 == 0 else "1"}
        for i in range(40)
    ]
    write_log(root, "iris", rows, classes=IRIS, probabilities=True)
    failed = {"request_id": "bad", "time": at(1), "status": 500, "label": None}
    write_log(root, "iris", [failed], classes=IRIS, name="2-1-b")
    write_log(
        root, "diab", [{"request_id": f"d{i}", "time": at(i), "prediction": 100.0 + 10 * i} for i in range(6)]
    )
    clear_cache()
    with served.store.db.session() as session:
        session.execute(Feedback.__table__.delete())
    record_feedback(
        served.store,
        root,
        "iris",
        [{"request_id": f"r{i}", "label": TRUTH[i]} for i in range(30)],
        key_id=None,
    )
    values = [{"request_id": f"d{i}", "value": 90.0 + 13 * i} for i in range(5)]
    record_feedback(served.store, root, "diab", values, key_id=None)
    return root


def test_classifier_accuracy_and_f1_per_version_match_sklearn(served: Local, home: Path) -> None:  # noqa: F811
    found = live_metrics(served.store, home, "iris", since=at(0), until=at(60))
    assert [m.version for m in found] == ["1", "2"]
    for metrics in found:
        mine = [i for i in range(30) if (i % 4 == 0) == (metrics.version == "2")]
        truth, answered = [TRUTH[i] for i in mine], [ANSWERS[i] for i in mine]
        assert metrics.labelled == len(mine)
        assert metrics.rows == len([i for i in range(40) if (i % 4 == 0) == (metrics.version == "2")])
        assert metrics.accuracy == pytest.approx(accuracy_score(truth, answered))
        assert metrics.f1 == pytest.approx(f1_score(truth, answered, average="macro"))
        assert metrics.mae is None
        assert metrics.model == f"iris-logreg@{metrics.version}"
        test = served.models.version(metrics.model).metrics["test"]
        snapshot = metrics.snapshot()
        assert snapshot["test_accuracy"] == pytest.approx(test["accuracy"])
        assert snapshot["test_f1"] == pytest.approx(test["f1_macro"])
        assert snapshot["live_accuracy"] == metrics.accuracy and snapshot["labelled"] == len(mine)


def test_regression_mae_and_rmse_match_sklearn(served: Local, home: Path) -> None:  # noqa: F811
    [metrics] = live_metrics(served.store, home, "diab", since=at(0), until=at(60))
    truth = [90.0 + 13 * i for i in range(5)]
    predicted = [100.0 + 10 * i for i in range(5)]
    assert (metrics.rows, metrics.labelled) == (6, 5)
    assert metrics.mae == pytest.approx(mean_absolute_error(truth, predicted))
    assert metrics.rmse == pytest.approx(np.sqrt(mean_squared_error(truth, predicted)))
    snapshot = metrics.snapshot()
    assert set(snapshot) >= {"live_mae", "live_rmse", "labelled", "test_mae", "test_rmse"}
    assert "live_accuracy" not in snapshot


def test_the_window_is_over_prediction_time(served: Local, home: Path) -> None:  # noqa: F811
    found = {m.version: m for m in live_metrics(served.store, home, "iris", since=at(2), until=at(6))}
    # requests 2, 3, 4, 5: 4 went to version 2, the others to version 1; all labelled
    assert (found["1"].rows, found["1"].labelled, found["2"].rows, found["2"].labelled) == (3, 3, 1, 1)
    late = live_metrics(served.store, home, "iris", since=at(30), until=at(60))
    assert all(m.labelled == 0 and m.accuracy is None for m in late)
    assert sum(m.rows for m in late) == 10
    assert "live_accuracy" not in late[0].snapshot()
    assert live_metrics(served.store, home, "iris", since=at(100), until=at(200)) == []
