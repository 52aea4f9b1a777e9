"""Batch prediction on a Ray head (Ray Data map_batches): the same output file as the embedded job, row for
row, for one model and an ensemble; a driver killed part-way is replaced and skips the chunks already
committed; an unreachable cluster fails `modelplane batch` in one line with nothing queued."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from modelplane.cli.context import platform
from modelplane.config import get_settings
from modelplane.jobs.batch.kind import BatchRequest, submit_batch
from modelplane.jobs.kinds import job_dir
from modelplane.jobs.queue import cancel_job, get_job, list_jobs, read_log
from modelplane.jobs.views import CANCELLED, SUCCEEDED, JobInfo
from modelplane.serving.deployments import parse_spec, save_deployment
from modelplane.store import Store
from tests.cli_helpers import run_cli
from tests.jobs.conftest import deploy_tiny, rows, run_inline, until, write_parquet
from tests.net import free_port


def _store(monkeypatch: pytest.MonkeyPatch, address: str | None) -> Store:
    """A store whose settings send jobs to `address` (None: embedded), on the test's one home."""
    if address is None:
        monkeypatch.delenv("MODELPLANE_RAY_ADDRESS", raising=False)
    else:
        monkeypatch.setenv("MODELPLANE_RAY_ADDRESS", address)
    get_settings.cache_clear()
    platform.cache_clear()
    return Store.from_settings()


def _batch(store: Store, deployment: str, source: Path, output: Path, **fields: object) -> JobInfo:
    request = BatchRequest(deployment=deployment, input=str(source), output=str(output), **fields)
    return run_inline(store, submit_batch(store, request, by="test").id)


@pytest.mark.parametrize("deployment", ["tiny", "pair"])
def test_the_ray_output_is_the_embedded_output_row_for_row(
    on_ray: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, deployment: str
) -> None:
    embedded, clustered = _store(monkeypatch, None), _store(monkeypatch, on_ray)
    try:
        deploy_tiny(embedded, tmp_path)
        deploy_tiny(embedded, tmp_path, name="tiny2", seed=3)
        save_deployment(embedded, parse_spec({"ensemble": {"members": ["tiny@1", "tiny2@1"]}}), name="pair")
        source = write_parquet(tmp_path / "in.parquet", rows(1003), ids=np.arange(1003) * 3 + 7)
        options = {"id_column": "row_id", "chunk_rows": 100, "batch_size": 32}
        here = _batch(embedded, deployment, source, tmp_path / "here.parquet", **options)
        there = _batch(clustered, deployment, source, tmp_path / "there.parquet", **options)
        assert here.state == SUCCEEDED and there.state == SUCCEEDED, there.error
        assert there.result and there.result["backend"] == "ray" and there.result["rows"] == 1003
        assert there.cluster["driver"] == f"job-{there.id}"  # the job row names its Ray driver
        expected, found = pq.read_table(tmp_path / "here.parquet"), pq.read_table(tmp_path / "there.parquet")
        assert found.schema == expected.schema and found.equals(expected)
        assert found.column("row_id").to_pylist() == (np.arange(1003) * 3 + 7).tolist()
        assert pq.ParquetFile(tmp_path / "there.parquet").metadata.num_row_groups == 11  # one per chunk
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temp output
        assert not job_dir(clustered, there.id).exists()  # nor parts
    finally:
        embedded.close()
        clustered.close()


def test_a_killed_driver_is_replaced_and_skips_the_committed_chunks(
    on_ray: str, store: Store, tmp_path: Path
) -> None:
    import ray

    deploy_tiny(store, tmp_path)
    count, chunk = 40_000, 100
    source = write_parquet(tmp_path / "in.parquet", rows(count))
    request = BatchRequest(
        deployment="tiny",
        input=str(source),
        output=str(tmp_path / "out.csv"),
        chunk_rows=chunk,
        batch_size=50,
    )
    job_id = submit_batch(store, request, by="test").id
    running = threading.Thread(target=run_inline, args=(store, job_id))
    running.start()
    parts = job_dir(store, job_id) / "parts"
    until(lambda: parts.is_dir() and len(list(parts.glob("part-*.arrow"))) >= 3, 60, "3 committed chunks")
    ray.kill(ray.get_actor(f"job-{job_id}", namespace="modelplane"))
    killed_after = len(list(parts.glob("part-*.arrow")))
    running.join(120)
    assert killed_after < count // chunk, "the job ended before its driver was killed: nothing was resumed"

    job = get_job(store, job_id)
    assert job.state == SUCCEEDED, job.error
    lines = [line.line for line in read_log(store, job_id)[1]]
    assert any("its Ray driver died" in line for line in lines)
    resumed = [line for line in lines if "resuming after" in line]
    assert len(resumed) == 1 and int(resumed[0].split("resuming after ")[1].split()[0]) >= killed_after
    committed = sorted(line for line in lines if line.startswith("chunk "))
    assert committed == sorted(  # every chunk recorded once, across both drivers
        f"chunk {i} committed: rows {i * chunk}-{i * chunk + chunk - 1}" for i in range(count // chunk)
    )
    out = pacsv.read_csv(tmp_path / "out.csv")
    assert out.column("row").to_pylist() == list(range(count))  # every row once, in input order
    assert job.progress.done == count and job.attempts == 1


def test_a_cancel_stops_the_work_on_the_cluster_and_leaves_nothing(
    on_ray: str, store: Store, tmp_path: Path
) -> None:
    import ray

    deploy_tiny(store, tmp_path)
    output = tmp_path / "out.parquet"
    request = BatchRequest(
        deployment="tiny",
        input=str(write_parquet(tmp_path / "in.parquet", rows(40_000))),
        output=str(output),
        chunk_rows=100,
        batch_size=50,
    )
    job_id = submit_batch(store, request, by="test").id
    running = threading.Thread(target=run_inline, args=(store, job_id))
    running.start()
    parts = job_dir(store, job_id) / "parts"
    until(lambda: parts.is_dir() and len(list(parts.glob("part-*.arrow"))) >= 2, 60, "2 committed chunks")
    cancel_job(store, job_id, by="test")
    running.join(60)
    assert get_job(store, job_id).state == CANCELLED
    with pytest.raises(ValueError):
        ray.get_actor(f"job-{job_id}", namespace="modelplane")
    assert not job_dir(store, job_id).exists()  # its actors had stopped writing parts when it was removed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.parquet", "mp-home", "tiny.onnx"]


def test_an_unreachable_cluster_fails_the_batch_command_with_nothing_queued(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    deploy_tiny(store, tmp_path)
    source = write_parquet(tmp_path / "in.parquet", rows(10))
    address = f"127.0.0.1:{free_port()}"
    monkeypatch.setenv("MODELPLANE_RAY_ADDRESS", address)
    get_settings.cache_clear()
    platform.cache_clear()
    done = run_cli(capsys, "batch", "tiny", "--input", str(source), "--output", str(tmp_path / "o.parquet"))
    assert done.code == 2
    assert len(done.err.strip().splitlines()) == 1
    assert f"no Ray cluster answers at {address}" in done.err and "ray start --head" in done.err
    assert list_jobs(store) == [] and not (tmp_path / "o.parquet").exists()


def test_the_embedded_path_imports_no_ray() -> None:
    code = (
        "import sys, modelplane.jobs.batch.kind, modelplane.jobs.batch.on_ray, "
        "modelplane.jobs.batch.ray_data; assert 'ray' not in sys.modules, 'ray imported'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
