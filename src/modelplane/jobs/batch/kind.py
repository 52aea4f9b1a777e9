"""Batch prediction as a job: submitted after every check passed, run chunk by chunk, resumed after the
chunks an earlier attempt committed, published only when complete."""

from __future__ import annotations

import contextlib
import functools
import resource
import shutil
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from modelplane.cluster.connect import cluster_params, job_address
from modelplane.data.formats.delimited import count_rows
from modelplane.data.inputs import InputChunk, InputLayout, read_chunks
from modelplane.errors import Invalid
from modelplane.jobs.batch.ahead import ReadAhead
from modelplane.jobs.batch.committer import ChunkCommitter
from modelplane.jobs.batch.on_ray import predict_on_ray
from modelplane.jobs.batch.outputs import ROW_NUMBER, OutputFile, PartFiles, prediction_table, publish
from modelplane.jobs.batch.paths import attempt_output, attempt_outputs
from modelplane.jobs.batch.predictor import PinnedDeployment, Predictor
from modelplane.jobs.batch.priority import short_gil_switches
from modelplane.jobs.batch.request import BatchRequest, parse_batch_request, plan_batch
from modelplane.jobs.batch.writers import wait_for_writers
from modelplane.jobs.context import JobCancelled, JobContext
from modelplane.jobs.kinds import job_dir
from modelplane.jobs.queue import enqueue
from modelplane.jobs.views import JobInfo
from modelplane.store import Store


def submit_batch(store: Store, request: BatchRequest, *, by: str, job_id: str | None = None) -> JobInfo:
    """Check the request (a bad one fails here, before anything is queued), then queue it."""
    cluster = cluster_params(store.settings)  # a cluster that does not answer fails here: nothing queued
    params = {**plan_batch(store, request), **cluster}
    rows = params["layout"]["rows"]
    note = f"{request.deployment} on {Path(params['input']).name} -> {Path(params['output']).name}"
    return enqueue(store, "batch", params, by=by, total=rows, unit="rows", note=note, job_id=job_id)


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux


class BatchKind:
    def run(self, ctx: JobContext) -> dict[str, Any]:
        params = ctx.params
        layout = InputLayout(**params["layout"])
        source, output = Path(params["input"]), Path(params["output"])
        parts = PartFiles(job_dir(ctx.store, ctx.job_id) / "parts")
        chunks, rows = int(ctx.checkpoint.get("chunks", 0)), int(ctx.checkpoint.get("rows", 0))
        if ctx.checkpoint.get("published"):  # an earlier attempt published it, then stopped
            _tidy(parts, output, ctx.job_id)
            return {"output": str(output), "format": params["output_format"], "rows": rows}
        stat = source.stat() if source.is_file() else None
        if stat is None or [stat.st_size, stat.st_mtime_ns] != [
            params["input_stat"][k] for k in ("size", "mtime_ns")
        ]:
            raise Invalid(f"{source} changed or disappeared since the job was submitted; submit it again")
        address = job_address(ctx.params, ctx.store.settings)
        if address is not None:  # Ray Data on the cluster (jobs/batch/ray_data.py)
            result = predict_on_ray(ctx, address)
            _tidy(parts, output, ctx.job_id)
            return result
        pinned = PinnedDeployment(**params["deployment"])
        chunk_rows, batch_size = int(params["chunk_rows"]), int(params["batch_size"])
        loading = time.perf_counter()
        # The reader is made first, so the first chunk is read while the model loads; closed on any way out.
        with (
            short_gil_switches(),
            contextlib.closing(
                ReadAhead(read_chunks(source, layout, chunk_rows=chunk_rows, skip_chunks=chunks))
            ) as inputs,
        ):
            predictor = Predictor(ctx.store, pinned, threads=ctx.threads, batch_size=batch_size)
            where = f"resuming after {chunks} committed chunk(s), {rows} rows" if chunks else "starting"
            ctx.progress(
                rows,
                total=layout.rows if layout.rows is not None else count_rows(source),
                line=f"{where}: {predictor.describe()}, {ctx.threads} thread(s), chunks of {chunk_rows} "
                f"rows, runtime batches of {batch_size}",
            )
            started, first_rows = time.perf_counter(), rows
            temp = attempt_output(output, ctx.job_id, ctx.lease.attempt)
            id_name = layout.id_column or ROW_NUMBER
            writing = OutputFile(temp, params["output_format"])
            chunks, rows = _write_output(
                ctx, inputs, predictor, parts, writing, id_name, first=(chunks, rows)
            )
        publish(temp, output)
        with contextlib.suppress(JobCancelled):  # too late to cancel: the output is published
            published = {"chunks": chunks, "rows": rows, "published": True}
            ctx.progress(rows, checkpoint=published, line=f"wrote {rows} rows to {output}")
        _tidy(parts, output, ctx.job_id)
        seconds = time.perf_counter() - started
        return {
            "output": str(output),
            "format": params["output_format"],
            "rows": rows,
            "load_s": round(started - loading, 3),  # the model's, beside the first chunk's read
            "seconds": round(seconds, 3),  # from the model being ready to the output published
            "rows_per_s": round((rows - first_rows) / seconds, 1) if seconds > 0 else None,
            "peak_rss_mb": round(_peak_rss_mb(), 1),
        }

    def cleanup(self, store: Store, job: JobInfo) -> None:
        """A cancelled or failed batch leaves no temp output and no parts (an earlier output it was to
        replace is untouched: it is replaced only when a complete one is published)."""
        wait_for_writers(job_dir(store, job.id) / "parts")  # Ray actors of the job still stopping
        _remove_attempt_outputs(Path(job.params["output"]), job.id)
        shutil.rmtree(job_dir(store, job.id), ignore_errors=True)


class _Checkpoints:
    """Records each chunk the committer's thread made durable as the job's checkpoint, with a log line."""

    def __init__(self, ctx: JobContext, chunks: int, rows: int) -> None:
        self.ctx = ctx
        self.chunks = chunks
        self.rows = rows

    def record(self, index: int, chunk_rows: int, rows_after: int) -> None:
        self.ctx.progress(
            rows_after,
            checkpoint={"chunks": index + 1, "rows": rows_after},
            line=f"chunk {index} committed: rows {rows_after - chunk_rows}-{rows_after - 1}",
        )
        self.chunks, self.rows = index + 1, rows_after


def _write_output(
    ctx: JobContext,
    inputs: Iterable[InputChunk],
    predictor: Predictor,
    parts: PartFiles,
    output: OutputFile,
    id_name: str,
    *,
    first: tuple[int, int],
) -> tuple[int, int]:
    """Predict every chunk after the `first` (chunks, rows) committed ones into `output`, complete and
    fsynced; the chunks and rows it then holds. On any way out but success the output is deleted."""
    checkpoints = _Checkpoints(ctx, *first)
    committer = ChunkCommitter(parts, output, checkpoints.record, earlier_chunks=first[0])
    try:
        _predict_chunks(inputs, predictor, committer, id_name=id_name, first=first)
        committer.finish()
        ctx.progress(checkpoints.rows, total=checkpoints.rows)
        if output.rows != checkpoints.rows:
            raise Invalid(
                f"the output holds {output.rows} rows but {checkpoints.rows} were committed; "
                "submit the job again"
            )
        ctx.check()  # a cancel that came while the output was being finished stops before it appears
    except BaseException:
        committer.abandon()
        raise
    return checkpoints.chunks, checkpoints.rows


def _predict_chunks(
    inputs: Iterable[InputChunk],
    predictor: Predictor,
    committer: ChunkCommitter,
    *,
    id_name: str,
    first: tuple[int, int],
) -> None:
    """Predict each chunk and hand it to the committer; `first`: the index and row of the first chunk
    (rows are numbered from there when the input has no id column)."""
    index, predicted = first
    pinned = predictor.pinned
    for x, ids in inputs:
        if ids is None:
            ids = pa.array(np.arange(predicted, predicted + len(x), dtype=np.int64))
        outputs = predictor.predict(x)
        predicted += len(x)
        make = functools.partial(prediction_table, id_name, ids, outputs, pinned.task, pinned.classes)
        committer.put(index, make, predicted)
        index += 1


def _remove_attempt_outputs(output: Path, job_id: str) -> None:
    for temp in attempt_outputs(output, job_id):
        temp.unlink(missing_ok=True)


def _tidy(parts: PartFiles, output: Path, job_id: str) -> None:
    """Drop the parts of a published output, the temp outputs of attempts that were killed, and the job's
    folder unless it holds that output (a batch submitted over the API)."""
    parts.remove()
    _remove_attempt_outputs(output, job_id)
    with contextlib.suppress(OSError):
        parts.folder.parent.rmdir()


KIND = BatchKind()

__all__ = ["KIND", "BatchRequest", "parse_batch_request", "submit_batch"]
