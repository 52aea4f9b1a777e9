"""Committing chunks in a thread: parts on disk before their checkpoint, the output in chunk order with the
earlier attempts' parts first, a cancel raised at the caller's next call, and nothing left when abandoned."""

from __future__ import annotations

import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from modelplane.jobs.batch.committer import ChunkCommitter
from modelplane.jobs.batch.outputs import OutputFile, PartFiles
from modelplane.jobs.batch.paths import attempt_output, attempt_outputs
from modelplane.jobs.context import JobCancelled


def _table(first: int, count: int) -> pa.Table:
    ids = list(range(first, first + count))
    return pa.table({"row_id": pa.array(ids, pa.int64()), "prediction": pa.array([i / 2 for i in ids])})


def test_parts_are_on_disk_before_their_commit_and_the_output_keeps_chunk_order(tmp_path: Path) -> None:
    parts = PartFiles(tmp_path / "parts")
    for index in range(2):  # what an earlier attempt committed
        parts.write(index, _table(index * 3, 3))
    seen: list[tuple[int, int, int, bool]] = []

    def on_commit(index: int, rows: int, rows_after: int) -> None:
        seen.append((index, rows, rows_after, parts.path(index).is_file()))

    output = OutputFile(tmp_path / "out.parquet", "parquet")
    committer = ChunkCommitter(parts, output, on_commit, earlier_chunks=2)
    committer.put(2, lambda: _table(6, 3), 9)
    committer.put(3, lambda: _table(9, 2), 11)
    committer.finish()
    assert seen == [(2, 3, 9, True), (3, 2, 11, True)]
    assert output.rows == 11
    assert pq.read_table(tmp_path / "out.parquet").column("row_id").to_pylist() == list(range(11))


def test_a_cancel_raised_by_the_commit_reaches_the_caller_and_nothing_is_left(tmp_path: Path) -> None:
    committed = threading.Event()

    def on_commit(index: int, rows: int, rows_after: int) -> None:
        committed.set()
        raise JobCancelled

    target = tmp_path / "out.csv"
    committer = ChunkCommitter(
        PartFiles(tmp_path / "parts"), OutputFile(target, "csv"), on_commit, earlier_chunks=0
    )
    committer.put(0, lambda: _table(0, 4), 4)
    assert committed.wait(10)
    with pytest.raises(JobCancelled):
        committer.put(1, lambda: _table(4, 4), 8)
        committer.finish()
    committer.abandon()
    assert not target.exists()
    assert not any(t.name == "batch-commit" for t in threading.enumerate())


def test_a_missing_earlier_part_fails_with_a_clear_error(tmp_path: Path) -> None:
    committer = ChunkCommitter(
        PartFiles(tmp_path / "parts"),
        OutputFile(tmp_path / "out.parquet", "parquet"),
        lambda *_: None,
        earlier_chunks=1,
    )
    with pytest.raises(Exception, match="part 0 of the output is missing"):
        committer.finish()
    committer.abandon()
    assert not (tmp_path / "out.parquet").exists()


def test_csv_output_writes_labels_as_their_names(tmp_path: Path) -> None:
    labels = pa.DictionaryArray.from_arrays(pa.array([1, 0], pa.int32()), pa.array(["cat", "dog"]))
    output = OutputFile(tmp_path / "out.csv", "csv")
    output.add(pa.table({"row": pa.array([0, 1]), "label": labels}))
    output.close()
    assert pacsv.read_csv(tmp_path / "out.csv").column("label").to_pylist() == ["dog", "cat"]


def test_each_attempt_writes_its_own_temp_output_and_all_are_found(tmp_path: Path) -> None:
    output = tmp_path / "odd [name]*.parquet"
    first, second = attempt_output(output, "j1", 1), attempt_output(output, "j1", 2)
    assert first != second and first.parent == tmp_path and first.name.startswith(".")
    for path in (first, second, attempt_output(output, "j2", 1)):
        path.write_text("")
    assert sorted(attempt_outputs(output, "j1")) == sorted([first, second])
