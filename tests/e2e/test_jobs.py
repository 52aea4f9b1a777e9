"""Jobs against a real `modelplane up`: batch prediction through the Python client (upload, follow, download)
and the CLI with MODELPLANE_URL set, a background training cancelled from the CLI, and bad requests refused
before any work."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from modelplane import errors
from modelplane.cli.context import platform
from modelplane.client import Client
from modelplane.store import Store
from tests.cli_helpers import run_cli
from tests.e2e.test_platform import Up
from tests.jobs.conftest import CLASSES, deploy_tiny, expected_labels, rows, until, write_parquet


@pytest.fixture
def up(tmp_path: Path) -> Iterator[tuple[Up, Client]]:
    home = tmp_path / "up-home"
    server = Up(home)
    store = Store(f"sqlite:///{home / 'modelplane.db'}", home / "artifacts", home / "runs")
    client = Client(server.url, server.admin_key)
    try:
        yield server, client
    finally:
        client.close()
        store.close()
        server.stop()


def test_jobs_through_the_client_and_the_cli(
    up: tuple[Up, Client], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, client = up
    home = tmp_path / "up-home"
    store = Store(f"sqlite:///{home / 'modelplane.db'}", home / "artifacts", home / "runs")
    model = deploy_tiny(store, tmp_path)  # a model in the platform's store, without training one
    store.close()
    x, ids = rows(500), np.arange(500) + 10_000
    source = write_parquet(tmp_path / "in.parquet", x, ids)

    job = client.batch("tiny", source, tmp_path / "preds.parquet", id_column="row_id", chunk_rows=100)
    out = pq.read_table(tmp_path / "preds.parquet")
    assert job.state == "succeeded" and job.result and job.result["rows"] == 500
    assert out.column("row_id").to_pylist() == ids.tolist()
    assert [CLASSES.index(v) for v in out.column("label").to_pylist()] == expected_labels(model, x).tolist()
    assert "chunk 4 committed: rows 400-499" in [line.line for line in client.jobs.follow(job.id[:6])]
    with pytest.raises(errors.Conflict, match="already exists"):  # refused before anything is uploaded
        client.batch("tiny", source, tmp_path / "preds.parquet")
    with pytest.raises(errors.NotFound, match="deployment 'nope' does not exist"):
        client.batch("nope", source, tmp_path / "other.parquet")

    queued = client.batch("tiny", source, tmp_path / "later.csv", id_column="row_id", background=True)
    assert client.jobs.wait(queued.id).state == "succeeded"
    client.jobs.download(queued.id, tmp_path / "later.csv")
    assert pacsv.read_csv(tmp_path / "later.csv").num_rows == 500
    consumer = Client(server.url, client.keys.create(role="consumer", name="c", deployments=["tiny"]).key)
    with pytest.raises(errors.Forbidden, match="may not 'jobs:read'"):
        consumer.jobs.list()
    consumer.close()

    monkeypatch.setenv("MODELPLANE_URL", server.url)
    monkeypatch.setenv("MODELPLANE_API_KEY", server.admin_key)
    platform.cache_clear()
    csv = tmp_path / "in.csv"
    pacsv.write_csv(pq.read_table(source), csv)
    args = [
        "batch",
        "tiny",
        "--input",
        str(csv),
        "--output",
        str(tmp_path / "cli.csv"),
        "--id-column",
        "row_id",
    ]
    done = run_cli(capsys, *args, "--quiet")
    assert done.code == 0, done.err
    assert pacsv.read_csv(tmp_path / "cli.csv").column("row_id").to_pylist() == ids.tolist()

    client.datasets.add("iris", source="builtin:iris")
    train = ["train", "--data", "iris", "--model", "mlp", "--epochs", "500", "--background", "--json"]
    queued_run = run_cli(capsys, *train)
    assert queued_run.code == 0, queued_run.err
    job_id, run_id = queued_run.json()["id"], queued_run.json()["params"]["run_id"]
    assert run_cli(capsys, "jobs", "cancel", job_id).code == 0
    until(lambda: client.jobs.get(job_id).state == "cancelled", what="the cancel")
    assert client.runs.get(run_id).status == "cancelled"
    listed = run_cli(capsys, "jobs", "list", "--json").json()
    assert {j["id"] for j in listed} >= {job.id, queued.id, job_id}
    assert "cancel" in run_cli(capsys, "jobs", "logs", job_id).out
