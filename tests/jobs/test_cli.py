"""The jobs CLI in-process (no server): batch in the foreground and in the background (a worker is started
for it), then list, show, logs, download and cancel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from modelplane.jobs.pool import live_workers
from modelplane.jobs.queue import enqueue, get_job
from modelplane.store import Store
from tests.cli_helpers import run_cli
from tests.jobs.conftest import rows, until, write_parquet


def test_batch_foreground_and_background_then_the_jobs_commands(
    store: Store, tiny: object, scratch: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_parquet(scratch / "in.parquet", rows(300), ids=np.arange(300))
    args = ["batch", "tiny", "--input", str(source), "--id-column", "row_id", "--chunk-rows", "50"]
    done = run_cli(capsys, *args, "--output", str(scratch / "out.csv"), "--quiet")
    assert done.code == 0, done.err
    assert "wrote 300 predictions to" in done.out
    assert pacsv.read_csv(scratch / "out.csv").column("row_id").to_pylist() == list(range(300))
    again = run_cli(capsys, *args, "--output", str(scratch / "out.csv"))
    assert again.code == 2 and "already exists; pass --overwrite" in again.err

    queued = run_cli(capsys, *args, "--output", str(scratch / "bg.parquet"), "--background", "--json")
    assert queued.code == 0, queued.err
    job_id = queued.json()["id"]
    until(lambda: get_job(store, job_id).finished, what="the background worker to run the job")
    shown = run_cli(capsys, "jobs", "show", job_id[:6])
    assert "succeeded" in shown.out and "300/300 rows" in shown.out
    assert "chunk 5 committed: rows 250-299" in run_cli(capsys, "jobs", "logs", job_id).out
    listed = run_cli(capsys, "jobs", "list", "--json").json()
    assert [j["state"] for j in listed] == ["succeeded", "succeeded"]
    copy = scratch / "copy.parquet"
    assert run_cli(capsys, "jobs", "download", job_id, str(copy)).code == 0
    assert pq.read_table(copy).equals(pq.read_table(scratch / "bg.parquet"))
    until(lambda: live_workers(store) == 0, what="the background worker to exit once idle")


def test_cancel_through_the_cli(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    job = enqueue(store, "batch", {"output": "/nowhere/out.csv"}, by="test")
    cancelled = run_cli(capsys, "jobs", "cancel", job.id[:6])
    assert cancelled.code == 0 and f"job {job.id} cancelled" in cancelled.out
    refused = run_cli(capsys, "jobs", "cancel", job.id)
    assert refused.code == 2 and "already cancelled" in refused.err
