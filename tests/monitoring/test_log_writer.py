"""The prediction log writer: rows written through `PredictionLog` read back by `read_log`, the bounded
queue, rotation into Parquet, crash recovery, an unwritable directory, retention."""

from __future__ import annotations

import itertools
import logging
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from modelplane.monitoring.log_files import read_log
from modelplane.monitoring.log_rows import Record, build_table
from modelplane.monitoring.log_segments import enforce_retention
from modelplane.monitoring.log_writer import PredictionLog
from modelplane.monitoring.schema import classes_of, features_of, outputs_of
from modelplane.monitoring.settings import MonitoringSpec
from modelplane.serving.metrics import ServingMetrics

CLASSES = ["cat", "dog", "eel"]
RNG = np.random.default_rng(7)


def classify(log: PredictionLog, request_id: str, rows: int = 2, deployment: str = "pets") -> np.ndarray:
    x = RNG.normal(size=(rows, 3)).astype(np.float32)
    probabilities = RNG.dirichlet(np.ones(3), rows).astype(np.float32)
    label = np.array(CLASSES, dtype=object)[probabilities.argmax(axis=1)]
    outputs = {"label": label, "probabilities": probabilities}
    log.submit(deployment, "1", request_id, "k1", 2.5, 200, x, None, outputs, CLASSES)
    return x


def dropped(metrics: ServingMetrics) -> float | None:
    return metrics.registry.get_sample_value(
        "modelplane_prediction_log_dropped_total", {"deployment": "pets"}
    )


def files(home: Path, suffix: str) -> list[Path]:
    return sorted(home.glob(f"monitoring/*/*/*{suffix}"))


def test_interleaved_answers_and_failures_read_back_in_time_order(tmp_path: Path) -> None:
    """Under overload most requests fail between answered ones: the failures (each with its own empty
    outputs) make one group of the flush, not one each, and the reader still returns every row in time
    order with the features of the batches of any size that answered."""
    log = PredictionLog(tmp_path)  # not started: one flush writes everything below
    batches, expected = [], []
    for i, rows in enumerate((64, 1, 3000, 64)):
        batches.append(classify(log, f"ok{i}", rows=rows))
        expected += [f"ok{i}"] * rows
        for j in range(50):
            log.submit("pets", "1", f"shed{i}-{j}", None, 0.1, 503, None, None, {}, [])
            expected.append(f"shed{i}-{j}")
    log.flush()

    table = read_log(tmp_path, "pets")
    assert table["request_id"].to_pylist() == expected
    answered = table.filter(pc.equal(table["status"], 200))
    features = features_of(answered)
    np.testing.assert_array_equal(np.stack(list(features.columns.values()), axis=1), np.concatenate(batches))


def test_a_flush_of_many_failures_builds_one_group_of_them() -> None:
    x = np.zeros((2, 3), np.float32)
    answered = Record("pets", "1", "ok", None, 1.0, 200, x, None, {"prediction": np.zeros(2)}, [], 0.0, 2)
    failures = [Record("pets", "1", f"f{j}", None, 0.1, 503, None, None, {}, [], 1.0, 1) for j in range(100)]
    table = build_table([answered, *failures])
    assert table.num_rows == 102 and table["request_id"].num_chunks == 2  # one per group, not per failure


def test_rows_read_back_with_their_columns(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path).start()
    x = classify(log, "a", rows=3)
    log.submit("pets", "2", "b", None, 9.0, 503, None, None, {}, [])  # a failed request: one row
    reg_x = RNG.normal(size=(2, 2)).astype(np.float32)
    log.submit("house", "4", "c", None, 1.0, 200, reg_x, None, {"prediction": np.array([[1.5], [2.5]])}, [])
    wide = RNG.normal(size=(1, 2000)).astype(np.float32)
    log.submit("image", "1", "d", None, 1.0, 200, wide, None, {"prediction": np.array([0.5])}, [])
    log.flush()

    table = read_log(tmp_path, "pets")
    assert table["request_id"].to_pylist() == ["a", "a", "a", "b"]
    assert table["row"].to_pylist() == [0, 1, 2, 0]
    assert table["version"].to_pylist() == ["1", "1", "1", "2"]
    assert table["key_id"].to_pylist() == ["k1", "k1", "k1", None]
    assert table["status"].to_pylist() == [200, 200, 200, 503]
    assert table["latency_ms"].to_pylist() == [2.5, 2.5, 2.5, 9.0]
    assert classes_of(table.schema) == CLASSES
    features = features_of(table.slice(0, 3))
    assert list(features.columns) == ["f0", "f1", "f2"]
    np.testing.assert_allclose(np.stack(list(features.columns.values()), axis=1), x)
    outputs = outputs_of(table.slice(0, 3))
    assert outputs.probabilities is not None and outputs.probabilities.shape == (3, 3)
    assert list(outputs.label) == [CLASSES[i] for i in outputs.probabilities.argmax(axis=1)]
    assert table["label"][3].as_py() is None and table["f:f0"][3].as_py() is None

    house = read_log(tmp_path, "house")
    assert house["prediction"].to_pylist() == [1.5, 2.5]
    image = read_log(tmp_path, "image")
    np.testing.assert_allclose(np.array(image["input"][0].as_py()), wide[0])
    log.close()
    assert files(tmp_path, ".arrows") == [] and len(files(tmp_path, ".parquet")) == 3
    assert read_log(tmp_path, "pets").num_rows == 4  # the same rows after sealing


def test_a_full_queue_drops_and_counts_rows_never_blocks(tmp_path: Path) -> None:
    metrics = ServingMetrics()
    log = PredictionLog(tmp_path, metrics=metrics, queue_rows=5)  # not started: nothing drains it
    for i in range(4):
        classify(log, f"r{i}", rows=2)
    assert log.queued_rows == 4 and log.dropped == {"pets": 4}
    assert (
        metrics.registry.get_sample_value("modelplane_prediction_log_dropped_total", {"deployment": "pets"})
        == 4
    )
    log.flush()
    classify(log, "after", rows=2)  # room again once written
    assert log.dropped == {"pets": 4}
    log.flush()
    assert read_log(tmp_path, "pets")["request_id"].to_pylist() == ["r0", "r0", "r1", "r1", "after", "after"]


def test_segments_rotate_into_parquet_by_size_and_by_age(tmp_path: Path) -> None:
    by_size = PredictionLog(tmp_path / "size", rotate_bytes=1).start()
    for i in range(3):
        classify(by_size, f"r{i}")
        by_size.flush()
    assert len(files(tmp_path / "size", ".parquet")) == 3 and not files(tmp_path / "size", ".arrows")
    assert read_log(tmp_path / "size", "pets").num_rows == 6
    by_size.close()

    by_age = PredictionLog(tmp_path / "age", rotate_s=3600).start()
    classify(by_age, "young")
    by_age.flush()
    assert len(files(tmp_path / "age", ".arrows")) == 1 and not files(tmp_path / "age", ".parquet")
    by_age.rotate_s = 0.0  # the open segment is now past its age
    by_age.flush()
    [sealed] = files(tmp_path / "age", ".parquet")
    assert not files(tmp_path / "age", ".arrows")
    assert pq.read_metadata(sealed).row_group(0).column(0).compression == "ZSTD"
    by_age.close()


def test_a_model_change_starts_a_new_segment(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path).start()
    classify(log, "three-features")
    log.flush()
    log.submit(
        "pets", "2", "four", None, 1.0, 200, np.ones((1, 4), np.float32), None, {"prediction": np.ones(1)}, []
    )
    log.flush()
    assert len(files(tmp_path, ".parquet")) == 1 and len(files(tmp_path, ".arrows")) == 1
    table = read_log(tmp_path, "pets")
    assert table["request_id"].to_pylist() == ["three-features", "three-features", "four"]
    assert table["f:f3"].to_pylist() == [None, None, 1.0]
    log.close()


CRASHING_WRITER = """
import sys, numpy as np
from pathlib import Path
from modelplane.monitoring.log_writer import PredictionLog
log = PredictionLog(Path(sys.argv[1]), flush_s=0.05).start()
for i in range(5):
    log.submit("pets", "1", f"r{i}", None, 1.0, 200, np.full((2, 3), i, np.float32), None,
               {"prediction": np.zeros(2)}, [])
log.flush()
print("written", flush=True)
sys.stdin.read()
"""


def test_rows_of_a_killed_server_are_recovered_into_parquet(tmp_path: Path) -> None:
    writer = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(CRASHING_WRITER), str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert writer.stdout is not None and writer.stdout.readline() == b"written\n"
    writer.kill()  # kill -9: no close, no seal
    writer.wait(10)
    [left] = files(tmp_path, ".arrows")
    assert read_log(tmp_path, "pets").num_rows == 10  # readable while still a stream

    log = PredictionLog(tmp_path).start()  # recovery on start
    assert not left.exists() and len(files(tmp_path, ".parquet")) == 1
    table = read_log(tmp_path, "pets")
    assert table["request_id"].to_pylist() == [f"r{i}" for i in range(5) for _ in range(2)]
    log.close()


def test_a_segment_abandoned_in_this_process_is_recovered(tmp_path: Path) -> None:
    abandoned = PredictionLog(tmp_path)
    classify(abandoned, "lost-writer")
    abandoned.flush()
    [segment] = abandoned._segments.values()
    segment.abandon()  # what a writer that died without close leaves
    PredictionLog(tmp_path).start().close()
    assert not files(tmp_path, ".arrows") and read_log(tmp_path, "pets").num_rows == 2


def test_an_unwritable_directory_drops_counts_and_warns_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "monitoring").write_text("not a directory")
    metrics = ServingMetrics()
    log = PredictionLog(tmp_path, metrics=metrics).start()
    with caplog.at_level(logging.WARNING, logger="modelplane.monitoring.log_writer"):
        for i in range(3):
            classify(log, f"r{i}")
            log.flush()
    assert log.dropped == {"pets": 6}
    assert (
        metrics.registry.get_sample_value("modelplane_prediction_log_dropped_total", {"deployment": "pets"})
        == 6
    )
    warnings = [r for r in caplog.records if "cannot be written" in r.getMessage()]
    assert len(warnings) == 1 and "serving continues" in warnings[0].getMessage()
    log.close()


def test_retention_deletes_old_segments_then_the_oldest_over_the_size_cap(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path, rotate_bytes=1).start()
    for i in range(4):
        classify(log, f"r{i}", rows=50)
        log.flush()
    log.close()
    sealed = files(tmp_path, ".parquet")
    assert len(sealed) == 4
    old = time.time() - 10 * 86400
    os.utime(sealed[0], (old, old))
    size = sealed[0].stat().st_size
    assert enforce_retention(tmp_path, "pets", 5, None) == size
    assert files(tmp_path, ".parquet") == sealed[1:]

    keep = sealed[3].stat().st_size + sealed[2].stat().st_size
    oldest = sealed[1].stat().st_size
    assert enforce_retention(tmp_path, "pets", 30, keep) == oldest
    assert files(tmp_path, ".parquet") == sealed[2:]
    assert read_log(tmp_path, "pets")["request_id"].unique().to_pylist() == ["r2", "r3"]
    assert enforce_retention(tmp_path, "nobody", 1, None) == 0


def test_the_writer_thread_enforces_each_deployments_retention(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path, rotate_bytes=1, flush_s=0.01, retention_every_s=0.01)
    log.configure("pets", MonitoringSpec(retain_days=1))
    classify(log, "expired")
    log.flush()
    [sealed] = files(tmp_path, ".parquet")
    old = time.time() - 2 * 86400
    os.utime(sealed, (old, old))
    log.start()
    deadline = time.monotonic() + 10
    while sealed.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not sealed.exists()
    log.close()


def test_a_feature_that_changes_type_gets_a_segment_of_its_own() -> None:
    import pyarrow as pa

    from modelplane.monitoring.log_rows import conform, widen

    numbers = pa.schema([pa.field("f:colour", pa.float32()), pa.field("f:size", pa.float32())])
    words = pa.schema([pa.field("f:colour", pa.string())])
    assert widen(numbers, words) == words
    only_size = pa.table({"f:size": pa.array([1.0], pa.float32())})
    fitted = conform(only_size, numbers)
    assert fitted is not None and fitted["f:colour"].to_pylist() == [None]
    assert conform(pa.table({"f:colour": pa.array(["red"])}), numbers) is None


def test_a_flush_across_midnight_writes_each_request_into_its_day(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Requests of one deployment and version answered either side of midnight (UTC) land in two day
    folders, each readable, and a failed request of the second day goes with it."""
    from datetime import UTC, datetime

    import modelplane.monitoring.log_writer as log_writer

    midnight = datetime(2026, 3, 2, tzinfo=UTC).timestamp()
    clock = itertools.chain(
        [midnight - 0.2, midnight - 0.1, midnight + 0.1], itertools.repeat(midnight + 0.2)
    )

    monkeypatch.setattr(
        log_writer, "time", SimpleNamespace(time=lambda: next(clock), monotonic=time.monotonic)
    )
    log = PredictionLog(tmp_path)
    for request_id in ("before-1", "before-2", "after-1"):
        classify(log, request_id, rows=1)
    log.submit("pets", "1", "after-failed", None, 0.1, 503, None, None, {}, [])
    log.flush()

    days = sorted(p.name for p in (tmp_path / "monitoring" / "pets").iterdir())
    assert days == ["2026-03-01", "2026-03-02"]
    table = read_log(tmp_path, "pets", since=datetime(2026, 3, 1, tzinfo=UTC))
    assert table["request_id"].to_pylist() == ["before-1", "before-2", "after-1", "after-failed"]
