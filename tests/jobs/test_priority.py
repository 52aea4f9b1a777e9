"""A batch job's helper threads give way to the runtime's: the reader and the committer run under
SCHED_BATCH (Linux), the caller's threads keep their policy, and the GIL switch interval comes back."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from modelplane.jobs.batch.ahead import ReadAhead
from modelplane.jobs.batch.committer import ChunkCommitter
from modelplane.jobs.batch.outputs import OutputFile, PartFiles
from modelplane.jobs.batch.priority import short_gil_switches

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SCHED_BATCH is Linux's")


def _policy() -> int:
    return os.sched_getscheduler(threading.get_native_id())


@linux_only
def test_the_reader_runs_under_sched_batch_and_the_caller_keeps_its_policy() -> None:
    policies: list[int] = []

    def items() -> Iterator[int]:
        policies.append(_policy())
        yield 1

    assert list(ReadAhead(items())) == [1]
    assert policies == [os.SCHED_BATCH]
    assert _policy() == os.SCHED_OTHER


@linux_only
def test_the_committer_runs_under_sched_batch(tmp_path: Path) -> None:
    policies: list[int] = []

    def make_table() -> pa.Table:
        policies.append(_policy())
        return pa.table({"row": pa.array([0], pa.int64()), "prediction": pa.array([0.5])})

    output = OutputFile(tmp_path / "out.parquet", "parquet")
    committer = ChunkCommitter(PartFiles(tmp_path / "parts"), output, lambda *_: None, earlier_chunks=0)
    committer.put(0, make_table, 1)
    committer.finish()
    assert policies == [os.SCHED_BATCH]
    assert output.rows == 1


def test_the_switch_interval_is_short_inside_and_restored_after_an_error() -> None:
    before = sys.getswitchinterval()
    with pytest.raises(RuntimeError), short_gil_switches(0.0002):
        assert sys.getswitchinterval() == pytest.approx(0.0002)
        raise RuntimeError("the job failed")
    assert sys.getswitchinterval() == before
