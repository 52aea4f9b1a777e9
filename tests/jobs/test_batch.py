"""Batch prediction: every row once, in order, with its id, for each format; resumption after the chunks an
earlier attempt committed; bad input refused when the job is submitted; failures leave nothing behind."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from sqlalchemy import update

from modelplane.errors import Conflict, Invalid, NotFound
from modelplane.jobs.batch.kind import BatchRequest, submit_batch
from modelplane.jobs.context import JobContext
from modelplane.jobs.executor import execute
from modelplane.jobs.kinds import KINDS
from modelplane.jobs.lease import claim
from modelplane.jobs.queue import get_job, list_jobs, read_log
from modelplane.jobs.views import FAILED, SUCCEEDED
from modelplane.serving.deployments import parse_spec, save_deployment
from modelplane.store import Store
from modelplane.store.orm import Job
from tests.jobs.conftest import (
    CLASSES,
    ME,
    claim_one,
    deploy_tiny,
    expected_labels,
    rows,
    run_inline,
    write_parquet,
)

Model = tuple[np.ndarray, np.ndarray]


def _submit(store: Store, source: Path, output: Path, **fields: Any) -> str:
    request = BatchRequest(deployment="tiny", input=str(source), output=str(output), **fields)
    return submit_batch(store, request, by="test").id


def _read(path: Path) -> pa.Table:
    return pq.read_table(path) if path.suffix == ".parquet" else pacsv.read_csv(path)


def test_parquet_in_parquet_out_every_row_once_in_order(store: Store, tiny: Model, scratch: Path) -> None:
    x, ids = rows(103), np.arange(103) * 5 + 1000
    job_id = _submit(
        store,
        write_parquet(scratch / "in.parquet", x, ids),
        scratch / "out.parquet",
        id_column="row_id",
        chunk_rows=10,
        batch_size=4,
    )
    job = run_inline(store, job_id)
    assert job.state == SUCCEEDED and job.result and job.result["rows"] == 103 and job.progress.done == 103
    out = _read(scratch / "out.parquet")
    assert out.column_names[:3] == ["row_id", "label", "probability"]
    assert out.column_names[3:] == [f"proba_{c}" for c in CLASSES]
    assert out.column("row_id").to_pylist() == ids.tolist()
    labels = [CLASSES.index(v) for v in out.column("label").to_pylist()]
    assert labels == expected_labels(tiny, x).tolist()
    assert np.allclose(
        out.column("proba_setosa").to_numpy()
        + out.column("proba_versicolor").to_numpy()
        + out.column("proba_virginica").to_numpy(),
        1.0,
        atol=1e-5,
    )
    assert sorted(p.name for p in scratch.iterdir()) == ["in.parquet", "out.parquet"]  # no temp file left
    assert not (store.runs_dir.parent / "jobs" / job_id).exists()  # nor parts


def test_csv_and_npz_inputs_with_the_row_number_as_id(store: Store, tiny: Model, scratch: Path) -> None:
    x = rows(23)
    csv = scratch / "in.csv"
    csv.write_text("a,b,c,d\n" + "".join(f"{r[0]},{r[1]},{r[2]},{r[3]}\n" for r in x))
    run_inline(store, _submit(store, csv, scratch / "from-csv.csv", chunk_rows=4))
    out = _read(scratch / "from-csv.csv")
    assert out.column("row").to_pylist() == list(range(23))
    assert [CLASSES.index(v) for v in out.column("label").to_pylist()] == expected_labels(tiny, x).tolist()

    np.savez(scratch / "in.npz", X=x, ids=np.arange(23) + 7)
    run_inline(
        store, _submit(store, scratch / "in.npz", scratch / "from-npz.parquet", id_column="ids", chunk_rows=6)
    )
    out = _read(scratch / "from-npz.parquet")
    assert out.column("ids").to_pylist() == list(range(7, 30)) and out.schema.field("ids").type == pa.int64()
    assert [CLASSES.index(v) for v in out.column("label").to_pylist()] == expected_labels(tiny, x).tolist()


def test_a_taken_over_job_resumes_after_its_committed_chunks(
    store: Store, tiny: Model, scratch: Path
) -> None:
    """Attempt 1 commits 3 chunks, then loses its lease (its worker stalled past the lease); attempt 2, on
    another worker, skips those chunks, and the output still holds every row once, in order."""
    x, ids = rows(50), np.arange(50)
    job_id = _submit(
        store,
        write_parquet(scratch / "in.parquet", x, ids),
        scratch / "out.csv",
        id_column="row_id",
        chunk_rows=5,
    )
    first = claim_one(store)
    committed: list[int] = []
    original = JobContext.progress

    def stall_after_three(self: JobContext, done: int, **kwargs: Any) -> None:
        if len(committed) == 3 and self.lease == first:
            with store.db.session() as session:  # the lease runs out; another worker takes the job over
                session.execute(update(Job).values(lease_until=Job.created_at))
            second = claim(store, ME, kinds=tuple(KINDS))
            assert second is not None
            execute(store, second, threads=1)
        original(self, done, **kwargs)
        if kwargs.get("checkpoint") and self.lease == first:
            committed.append(done)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(JobContext, "progress", stall_after_three)
        assert execute(store, first, threads=1) is None  # lease lost: it stopped without writing
    assert not {"batch-read-ahead", "batch-commit"} & {t.name for t in threading.enumerate()}
    job = get_job(store, job_id)
    assert job.state == SUCCEEDED and job.attempts == 2
    lines = [line.line for line in read_log(store, job_id)[1]]
    assert any("resuming after 3 committed chunk(s), 15 rows" in line for line in lines)
    assert [line for line in lines if line.startswith("chunk")] == [
        f"chunk {i} committed: rows {5 * i}-{5 * i + 4}" for i in range(10)
    ]  # no chunk computed twice
    out = _read(scratch / "out.csv")
    assert out.column("row_id").to_pylist() == list(range(50))
    assert [CLASSES.index(v) for v in out.column("label").to_pylist()] == expected_labels(tiny, x).tolist()


def test_an_ensemble_predicts_like_serving(store: Store, tiny: Model, scratch: Path) -> None:
    other = deploy_tiny(store, scratch, name="tiny2", seed=3)
    save_deployment(store, parse_spec({"ensemble": {"members": ["tiny@1", "tiny2@1"]}}), name="pair")
    x = rows(30)
    request = BatchRequest(
        deployment="pair",
        input=str(write_parquet(scratch / "in.parquet", x)),
        output=str(scratch / "out.parquet"),
        chunk_rows=7,
    )
    job = run_inline(store, submit_batch(store, request, by="t").id)
    assert job.state == SUCCEEDED
    out = _read(scratch / "out.parquet")

    def softmax(model: Model) -> np.ndarray:
        logits = x @ model[0] + model[1]
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    mean = (softmax(tiny) + softmax(other)) / 2
    assert np.allclose(out.column("proba_setosa").to_numpy(), mean[:, 0], atol=1e-5)
    assert [CLASSES.index(v) for v in out.column("label").to_pylist()] == mean.argmax(axis=1).tolist()


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda d: write_parquet(d / "i.parquet", rows(5)), None, None),
        (
            lambda d: write_parquet(d / "i.parquet", rows(5), e=pa.array(np.zeros(5))),
            Invalid,
            "has 5 feature columns but the model reads 4",
        ),
        (lambda d: write_parquet(d / "i.parquet", rows(5)[:, :3]), Invalid, "has 3 feature columns"),
        (lambda d: write_parquet(d / "i.parquet", rows(5), ids=np.arange(5)), Invalid, "--id-column"),
        (lambda d: (d / "i.csv").write_text("a,b,c,d\n1,2,x,4\n"), Invalid, "column 'c' of i.csv holds text"),
        (lambda d: (d / "i.csv").write_text("a,b,c,d\n"), Invalid, "holds no rows"),
        (lambda d: write_parquet(d / "i.parquet", rows(0)), Invalid, "holds no rows"),
        (lambda d: (d / "i.json").write_text("{}"), Invalid, "give a .csv, .tsv, .parquet"),
    ],
)
def test_bad_input_is_refused_at_submit(
    store: Store, tiny: Model, scratch: Path, make: Any, error: type[Exception] | None, message: str | None
) -> None:
    make(scratch)
    source = next(scratch.iterdir())
    if error is None:
        _submit(store, source, scratch / "ok.parquet")
        return
    with pytest.raises(error, match=message):
        _submit(store, source, scratch / "out.parquet")
    assert list_jobs(store) == []  # nothing was queued


def test_bad_requests_are_refused_at_submit(store: Store, tiny: Model, scratch: Path) -> None:
    source = write_parquet(scratch / "in.parquet", rows(5), ids=np.arange(5))
    (scratch / "exists.parquet").write_bytes(b"keep me")
    with pytest.raises(Conflict, match="already exists; pass --overwrite"):
        _submit(store, source, scratch / "exists.parquet", id_column="row_id")
    with pytest.raises(NotFound, match="deployment 'nope' does not exist"):
        submit_batch(
            store, BatchRequest(deployment="nope", input=str(source), output=str(scratch / "o.csv")), by="t"
        )
    with pytest.raises(NotFound, match="does not exist; create it"):
        _submit(store, source, scratch / "missing" / "out.csv", id_column="row_id")
    with pytest.raises(Invalid, match=r"name a \.parquet or \.csv output"):
        _submit(store, source, scratch / "out.json", id_column="row_id")
    with pytest.raises(Invalid, match="id column 'nope' not found"):
        _submit(store, source, scratch / "out.csv", id_column="nope")
    with pytest.raises(Invalid, match="columns the model was trained on"):
        _with_training_names(store, scratch, source)
    job = run_inline(
        store, _submit(store, source, scratch / "exists.parquet", id_column="row_id", overwrite=True)
    )
    assert job.state == SUCCEEDED and _read(scratch / "exists.parquet").num_rows == 5


def test_columns_named_as_in_training_are_matched_by_name(scratch: Path) -> None:
    from modelplane.data.inputs import inspect_input

    csv = scratch / "in.csv"
    csv.write_text("id,d,c,b,a\n7,4,3,2,1\n")
    layout = inspect_input(csv, id_column="id", input_shape=[4], trained_names=["a", "b", "c", "d"])
    assert layout.features == ["a", "b", "c", "d"] and layout.id_type == "int64" and layout.rows is None


def _with_training_names(store: Store, scratch: Path, source: Path) -> None:
    """A model trained on columns w, x, y, z refuses a file whose columns are named otherwise but overlap."""
    from modelplane.data.inputs import inspect_input

    inspect_input(source, id_column="row_id", input_shape=[4], trained_names=["a", "b", "y", "z"])


def test_a_bad_value_fails_the_job_and_leaves_nothing(store: Store, tiny: Model, scratch: Path) -> None:
    x = rows(20)
    x[13, 2] = np.nan
    (scratch / "old.csv").write_text("previous predictions\n")
    job_id = _submit(
        store, write_parquet(scratch / "in.parquet", x), scratch / "old.csv", chunk_rows=4, overwrite=True
    )
    job = run_inline(store, job_id)
    assert job.state == FAILED and "column 'c' of in.parquet is NaN at row 14" in (job.error or "")
    assert (scratch / "old.csv").read_text() == "previous predictions\n"  # replaced only by a complete output
    assert sorted(p.name for p in scratch.iterdir()) == ["in.parquet", "old.csv"]
    assert not (store.runs_dir.parent / "jobs" / job_id).exists()


def test_batch_reading_holds_about_one_row_group_in_memory(scratch: Path) -> None:
    from modelplane.data.inputs import InputLayout, read_chunks

    x = rows(20_000)
    group = pa.table({name: pa.array(x[:, j]) for j, name in enumerate("abcd")})
    path = scratch / "big.parquet"
    with pq.ParquetWriter(path, group.schema, compression="none") as writer:
        for _ in range(8):
            writer.write_table(group)
    layout = InputLayout("parquet", list("abcd"), [4], None, None, 8 * 20_000)
    before, held = pa.total_allocated_bytes(), 0
    for features, _ in read_chunks(path, layout, chunk_rows=5_000):
        held = max(held, pa.total_allocated_bytes() - before)
        del features
    assert held < 3 * group.nbytes, f"{held} bytes held for row groups of {group.nbytes}"
