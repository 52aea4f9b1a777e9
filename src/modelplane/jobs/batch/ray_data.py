"""Batch prediction on a Ray cluster: the work its driver actor runs (cluster/driver.py), as a Ray Data
`map_batches` over the input's chunks.

The rows never travel through Ray: the dataset holds only spans of chunk indices, and each actor of the
pool reads its chunks with the same reader stack as the embedded job (data/inputs.py), predicts them with
the same Predictor (serving's runtimes and ensemble rules), and commits each as a part file (atomic, as
the embedded job's). The driver records each committed chunk (an event the worker turns into the job's
checkpoint) and appends the parts to the output in input order as their prefix grows, so the output is
the embedded job's file, written the same way, whatever order the actors finish in.

A new driver (its predecessor died with its node) skips every chunk whose part exists, whether or not the
worker recorded it yet: a part that exists is whole and is the chunk's commit, so no row is predicted or
written twice. Parts are per job, and a job's input, model versions and chunking are fixed at submit.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from modelplane.cluster.driver import Channel
from modelplane.data.formats.delimited import count_rows
from modelplane.data.inputs import InputLayout, read_chunks
from modelplane.errors import Invalid
from modelplane.jobs.batch.outputs import ROW_NUMBER, OutputFile, PartFiles, prediction_table
from modelplane.jobs.batch.paths import attempt_output
from modelplane.jobs.batch.predictor import PinnedDeployment, Predictor
from modelplane.jobs.batch.writers import hold_writer_lock
from modelplane.jobs.kinds import job_dir
from modelplane.store import Store

# ONNX Runtime threads per actor; the pool has one actor per that many of the cluster's CPUs. On 2 busy
# CPUs (load ~5-9), 1M digits rows predicted in 6.7 s by 2 actors x 1 thread, 9.5 s by 1 x 2; on idle ones
# 275-308k rows/s against 252-276k (bench/scaleout_batch.py): one actor's reads and part writes overlap the
# other's runtime calls instead of idling a runtime thread.
THREADS_PER_ACTOR = 1
SPANS_PER_ACTOR = 4  # spans of consecutive chunks queued per actor: balance vs re-skipping a CSV's start


class ChunkPredictor:
    """One actor of the pool: loads the deployment's models once, then predicts and commits the chunks of
    each span it is given. Yields one small row per committed chunk (its index and rows)."""

    def __init__(self, handover: dict[str, Any], params: dict[str, Any], job_id: str, threads: int) -> None:
        store = Store.from_handover(handover)
        try:
            self.pinned = PinnedDeployment(**params["deployment"])
            self.predictor = Predictor(
                store, self.pinned, threads=threads, batch_size=int(params["batch_size"])
            )
            self.parts = PartFiles(job_dir(store, job_id) / "parts")
            self._lock = hold_writer_lock(self.parts.folder)  # a cleanup waits for this process to end
        finally:
            store.close()
        self.source = Path(params["input"])
        self.layout = InputLayout(**params["layout"])
        self.chunk_rows = int(params["chunk_rows"])
        self.id_name = self.layout.id_column or ROW_NUMBER
        self.ready = time.time()  # wall clock: compared across the cluster's processes

    def __call__(self, spans: dict[str, np.ndarray]) -> Iterator[dict[str, np.ndarray]]:
        for first, count in zip(spans["first"].tolist(), spans["count"].tolist(), strict=True):
            yield from self._span(first, None if count < 0 else count)

    def _span(self, first: int, count: int | None) -> Iterator[dict[str, np.ndarray]]:
        """Chunks `first`.. (`count` of them; None: to the end of the input)."""
        reader = read_chunks(self.source, self.layout, chunk_rows=self.chunk_rows, skip_chunks=first)
        pinned = self.pinned
        for index, (x, ids) in enumerate(itertools.islice(reader, count), start=first):
            if ids is None:  # numbered from 0 in the input, as the embedded job numbers them
                start = index * self.chunk_rows
                ids = pa.array(np.arange(start, start + len(x), dtype=np.int64))
            outputs = self.predictor.predict(x)
            table = prediction_table(self.id_name, ids, outputs, pinned.task, pinned.classes)
            self.parts.write(index, table, make_folder=False)  # gone: the job ended, its cleanup ran
            yield {"chunk": np.array([index]), "rows": np.array([len(x)]), "ready": np.array([self.ready])}


def spans(todo: list[int], pieces: int, *, open_end: int | None) -> list[tuple[int, int]]:
    """`todo` (sorted chunk indices) as (first, count) runs of consecutive chunks, cut into about `pieces`
    spans; the span holding chunk `open_end` reads to the end of the input instead (count -1), for an
    input whose row count was an estimate."""
    if not todo:
        return []
    size = max(1, math.ceil(len(todo) / pieces))
    found: list[tuple[int, int]] = []
    for _, run in itertools.groupby(enumerate(todo), key=lambda pair: pair[1] - pair[0]):
        chunks = [index for _, index in run]
        found += [(chunks[i], len(chunks[i : i + size])) for i in range(0, len(chunks), size)]
    if open_end is not None and found[-1][0] + found[-1][1] - 1 == open_end:
        found[-1] = (found[-1][0], -1)
    return found


class _Assembler:
    """Appends committed parts to the output in chunk order, as far as their prefix reaches."""

    def __init__(self, parts: PartFiles, output: OutputFile) -> None:
        self.parts, self.output = parts, output
        self.next = 0

    def advance(self, committed: set[int]) -> None:
        while self.next in committed:
            self.output.add(self.parts.read(self.next))
            self.next += 1


def drive(payload: dict[str, Any], store: Store, channel: Channel) -> dict[str, Any]:
    """The job's work in its driver actor: predict the chunks not committed yet and assemble the output
    into the attempt's temp file (the worker publishes it). `payload`: job_id, attempt, params (the
    job's), committed (chunk indices the job's checkpoint records)."""
    import ray

    params, job_id = payload["params"], payload["job_id"]
    layout = InputLayout(**params["layout"])
    source, output = Path(params["input"]), Path(params["output"])
    chunk_rows = int(params["chunk_rows"])
    estimated = layout.rows is None  # a CSV's line count: quoted line breaks make it too high
    total = layout.rows if layout.rows is not None else count_rows(source)
    expected = math.ceil(total / chunk_rows)
    parts = PartFiles(job_dir(store, job_id) / "parts")
    recorded = set(payload["committed"])
    committed = recorded | {i for i in range(expected) if parts.path(i).is_file()}
    for index in sorted(committed - recorded):  # committed by a driver that died before they were recorded
        channel.emit({"chunk": index, "rows": parts.read(index).num_rows})
    actors = max(1, int(ray.cluster_resources().get("CPU", 1)) // THREADS_PER_ACTOR)
    todo = [i for i in range(expected) if i not in committed]
    channel.emit(
        {
            "start": {
                "committed": len(committed),
                "todo": len(todo),
                "total": total,
                "actors": actors,
                "threads": THREADS_PER_ACTOR,
            }
        }
    )
    started, ready, predicted = time.time(), None, 0  # ready: when the first actor had its models loaded
    temp = attempt_output(output, job_id, int(payload["attempt"]))
    writing = OutputFile(temp, params["output_format"])
    assembler = _Assembler(parts, writing)
    parts.folder.mkdir(parents=True, exist_ok=True)  # the actors write parts only while it exists
    try:
        assembler.advance(committed)
        runs = spans(todo, actors * SPANS_PER_ACTOR, open_end=expected - 1 if estimated else None)
        for index, rows, actor_ready in _predicted(store, payload, runs, actors):
            ready = actor_ready if ready is None else min(ready, actor_ready)
            channel.raise_if_cancelled()
            channel.emit({"chunk": index, "rows": rows})
            committed.add(index)
            predicted += rows
            assembler.advance(committed)
        channel.raise_if_cancelled()
        if not committed or committed != set(range(max(committed) + 1)):
            raise Invalid(f"chunks of {source.name} are missing from the output; submit the job again")
        writing.close()
    except BaseException:
        writing.discard()
        raise
    ready = started if ready is None else ready  # nothing left to predict: no pool was started
    seconds = time.time() - ready
    return {
        "output": str(output),
        "assembled": str(temp),  # published by the job's worker, which holds the lease and sees a cancel
        "format": params["output_format"],
        "rows": writing.rows,
        "load_s": round(ready - started, 3),  # the actor pool's start and the first actor's model load
        "seconds": round(seconds, 3),  # from the first actor being ready to the output assembled
        "rows_per_s": round(predicted / seconds, 1) if seconds > 0 else None,
        "backend": "ray",
        "actors": min(actors, len(runs)),
        "threads": THREADS_PER_ACTOR,
    }


def _predicted(
    store: Store, payload: dict[str, Any], runs: list[tuple[int, int]], actors: int
) -> Iterator[tuple[int, int, float]]:
    """(chunk index, rows, when its actor was ready) of each chunk the actor pool commits, in the order
    they are committed."""
    if not runs:
        return
    import ray.data

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.execution_options.preserve_order = False  # the assembler orders; actors finish as they can
    items = [{"first": first, "count": count} for first, count in runs]
    dataset = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
        ChunkPredictor,
        batch_size=1,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=min(actors, len(runs))),
        num_cpus=THREADS_PER_ACTOR,
        fn_constructor_kwargs={
            "handover": store.handover(),
            "params": payload["params"],
            "job_id": payload["job_id"],
            "threads": THREADS_PER_ACTOR,
        },
    )
    for row in dataset.iter_rows():
        yield int(row["chunk"]), int(row["rows"]), float(row["ready"])
