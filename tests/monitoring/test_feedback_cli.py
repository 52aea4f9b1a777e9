"""`modelplane monitor feedback --from labels.csv` and `monitor live`, as a user runs them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from modelplane.cli.context import platform
from modelplane.config import get_settings
from modelplane.local import Local
from modelplane.monitoring.log_ids import clear_cache
from tests.cli_helpers import run_cli
from tests.monitoring.log_helpers import served, write_log  # noqa: F401 (the fixture)

IRIS = ["setosa", "versicolor", "virginica"]


@pytest.fixture
def cli_home(served: Local, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:  # noqa: F811
    """The CLI on the served models' home, with deployment `iris-cli` and 6 logged requests just now."""
    home = served.store.settings.home
    monkeypatch.setenv("MODELPLANE_HOME", str(home))
    get_settings.cache_clear()
    platform.cache_clear()
    served.deploy({"model": "iris-logreg@1"}, name="iris-cli")
    now = datetime.now(UTC) - timedelta(minutes=10)
    rows = [
        {"request_id": f"c{i}", "time": now + timedelta(seconds=i), "label": IRIS[i % 3]} for i in range(6)
    ]
    write_log(home, "iris-cli", rows, classes=IRIS)
    clear_cache()
    yield home
    served.deployments.undeploy("iris-cli")
    platform.cache_clear()


def test_feedback_from_a_csv_then_live_metrics(
    cli_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    labels = tmp_path / "labels.csv"
    # c0..c2 answered right (setosa, versicolor, virginica), c3 wrong; c9 was never logged
    labels.write_text("request_id,label\nc0,setosa\nc1,versicolor\nc2,virginica\nc3,virginica\nc9,setosa\n")
    sent = run_cli(capsys, "monitor", "feedback", "iris-cli", "--from", str(labels), "--json")
    assert sent.code == 0, sent.err
    assert sent.json() == {"accepted": 4, "replaced": 0, "unknown": 1, "unknown_ids": ["c9"]}

    found = run_cli(capsys, "monitor", "live", "iris-cli", "--window", "1d", "--json")
    assert found.code == 0, found.err
    [metrics] = found.json()
    assert (metrics["version"], metrics["rows"], metrics["labelled"]) == ("1", 6, 4)
    assert metrics["accuracy"] == pytest.approx(0.75)
    assert "test_accuracy" in metrics["test"]

    shown = run_cli(capsys, "monitor", "live", "iris-cli")
    assert shown.code == 0 and "iris-logreg@1" in shown.out and "0.7500 (test" in shown.out

    as_json = tmp_path / "labels.json"
    as_json.write_text('{"items": [{"request_id": "c4", "label": 1}]}')  # an index: versicolor
    sent_json = run_cli(capsys, "monitor", "feedback", "iris-cli", "--from", str(as_json), "--json")
    assert sent_json.code == 0 and sent_json.json()["accepted"] == 1

    again = run_cli(capsys, "monitor", "feedback", "iris-cli", "--from", str(labels))
    assert again.code == 0 and "4 labels stored for iris-cli (4 replaced" in again.out
    assert "unknown request ids: c9" in again.out


def test_bad_files_and_labels_are_one_line_errors(
    cli_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("request_id,label\nc0,setosa\nc1,tulip\n")
    refused = run_cli(capsys, "monitor", "feedback", "iris-cli", "--from", str(bad))
    assert refused.code != 0 and "feedback item 1 has label 'tulip'" in refused.err
    assert "Traceback" not in refused.err
    wrong = tmp_path / "ids.csv"
    wrong.write_text("id,label\nc0,setosa\n")
    missing = run_cli(capsys, "monitor", "feedback", "iris-cli", "--from", str(wrong))
    assert missing.code != 0 and "has no request_id column" in missing.err
    broken = tmp_path / "broken.csv"
    broken.write_text("request_id,label\nc0,setosa,extra\n")
    unreadable = run_cli(capsys, "monitor", "feedback", "iris-cli", "--from", str(broken))
    assert unreadable.code != 0 and "cannot read" in unreadable.err and "Traceback" not in unreadable.err
    window = run_cli(capsys, "monitor", "live", "iris-cli", "--window", "soon")
    assert window.code != 0 and "window 'soon' is not a duration" in window.err
