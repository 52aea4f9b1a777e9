"""The monitor's own parts: request figures from a log window, stored windows, the scheduler that queues
monitor jobs once per interval whoever runs it, and the gauges /metrics shows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from modelplane.jobs.queue import list_jobs
from modelplane.local import Local
from modelplane.monitoring.gauges import MonitorCollector
from modelplane.monitoring.request_stats import answered, request_stats
from modelplane.monitoring.scheduler import queue_due
from modelplane.monitoring.schema import LATENCY_MS, ROW, STATUS
from modelplane.monitoring.windows import KEEP_WINDOWS, WindowInfo, latest_windows, list_windows, save_windows
from modelplane.store import Store


def _log(rows: list[int], status: list[int], latency: list[float]) -> pa.Table:
    return pa.table(
        {
            ROW: pa.array(rows, pa.int32()),
            STATUS: pa.array(status, pa.int16()),
            LATENCY_MS: pa.array(latency, pa.float32()),
        }
    )


def test_request_figures_count_requests_not_rows() -> None:
    # Two answered requests (of 3 rows and 1 row) and two failed ones.
    table = _log([0, 1, 2, 0, 0, 0], [200, 200, 200, 200, 503, 500], [10, 10, 10, 30, 1, 2])
    stats = request_stats(table)
    assert stats["requests"] == 4
    assert stats["rows"] == 4
    assert stats["error_rate"] == pytest.approx(0.5)
    assert stats["p50_ms"] == pytest.approx(np.percentile([10, 30, 1, 2], 50))
    assert stats["p99_ms"] == pytest.approx(np.percentile([10, 30, 1, 2], 99))
    assert answered(table).num_rows == 4
    assert request_stats(table.slice(0, 0)) == {}


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Local]:
    local = Local(tmp_path_factory.mktemp("monitor-home"))
    local.datasets.add("iris", source="builtin:iris")
    local.train(data="iris", model="logreg")
    local.deploy({"model": "iris-logreg@1", "monitoring": {"every_s": 60}}, name="watched")
    local.deploy({"model": "iris-logreg@1", "monitoring": {"log_sample": 0}}, name="quiet")
    yield local
    local.close()


def _window(deployment: str, version: str, end: datetime, **metrics: float) -> WindowInfo:
    return WindowInfo(deployment, version, end - timedelta(hours=1), end, end, metrics, {})


def test_windows_are_kept_newest_first_and_pruned(store: Store) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(KEEP_WINDOWS + 3):
        save_windows(store, [_window("d", "1", start + timedelta(minutes=i), drift=float(i))])
    windows = list_windows(store, "d", limit=KEEP_WINDOWS + 10)
    assert len(windows) == KEEP_WINDOWS
    assert windows[0].metrics["drift"] == KEEP_WINDOWS + 2


def test_the_scheduler_queues_each_turn_once(deployed: Local) -> None:
    store = deployed.store
    now = datetime.now(UTC)
    assert queue_due(store, now) == []  # first sight: watched from one interval on
    assert queue_due(store, now + timedelta(seconds=30)) == []
    due = now + timedelta(seconds=61)
    first = queue_due(store, due)
    assert len(first) == 1  # `quiet` logs nothing, so it is never monitored
    assert queue_due(store, due) == []  # a second scheduler at the same moment finds the turn taken
    job = list_jobs(store, kind="monitor")[0]
    assert job.params == {"deployment": "watched"}
    # The job has not run: the next turn waits for it instead of piling jobs up.
    assert queue_due(store, due + timedelta(seconds=61)) == []


def test_gauges_show_the_newest_window_of_each_version(deployed: Local) -> None:
    store = deployed.store
    end = datetime.now(UTC)
    save_windows(store, [_window("watched", "1", end - timedelta(minutes=5), drift=0.5)])
    save_windows(store, [_window("watched", "1", end, drift=0.25, live_accuracy=0.9)])
    save_windows(store, [_window("gone", "1", end, drift=1.0)])  # no such deployment: not shown
    assert {w.deployment for w in latest_windows(store)} == {"watched"}
    registry = CollectorRegistry()
    registry.register(MonitorCollector(store))
    text = generate_latest(registry).decode()
    assert 'modelplane_drift_share{deployment="watched",version="1"} 0.25' in text
    assert 'modelplane_live_accuracy{deployment="watched",version="1"} 0.9' in text
    assert "gone" not in text
