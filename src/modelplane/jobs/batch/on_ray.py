"""Batch prediction on a Ray cluster, as the job's worker runs it: hands the work to a driver actor
(jobs/batch/ray_data.py) and turns each chunk it commits into the job's progress and checkpoint.

The checkpoint keeps the embedded job's form, `chunks` and `rows` for the prefix of committed chunks (so an
attempt on either backend resumes from it), plus `ray_chunks`, the [index, rows] of committed chunks past
that prefix: the actors finish chunks in any order. A re-attached worker receives every event again, and a
new driver reports the parts its predecessor committed; a chunk already recorded is not recorded twice.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from modelplane.cluster.driver import run_on_cluster
from modelplane.jobs.batch.outputs import publish
from modelplane.jobs.context import JobCancelled, JobContext

TARGET = "modelplane.jobs.batch.ray_data:drive"


class CommittedChunks:
    """The committed chunks: a prefix (count and rows) and the chunks past it (index -> rows)."""

    def __init__(self, checkpoint: dict[str, Any]) -> None:
        self.prefix = int(checkpoint.get("chunks", 0))
        self.prefix_rows = int(checkpoint.get("rows", 0))
        self.beyond: dict[int, int] = {int(i): int(n) for i, n in checkpoint.get("ray_chunks", [])}

    def __contains__(self, index: int) -> bool:
        return index < self.prefix or index in self.beyond

    @property
    def rows(self) -> int:
        return self.prefix_rows + sum(self.beyond.values())

    def indices(self) -> list[int]:
        return [*range(self.prefix), *sorted(self.beyond)]

    def add(self, index: int, rows: int) -> None:
        self.beyond[index] = rows
        while self.prefix in self.beyond:
            self.prefix_rows += self.beyond.pop(self.prefix)
            self.prefix += 1

    def checkpoint(self) -> dict[str, Any]:
        return {"chunks": self.prefix, "rows": self.prefix_rows, "ray_chunks": sorted(self.beyond.items())}


def predict_on_ray(ctx: JobContext, address: str) -> dict[str, Any]:
    """Run the batch on the cluster at `address`, then publish the output it assembled; its result."""
    chunk_rows = int(ctx.params["chunk_rows"])
    committed = CommittedChunks(ctx.checkpoint)
    payload = {
        "job_id": ctx.job_id,
        "attempt": ctx.lease.attempt,
        "params": ctx.params,
        "committed": committed.indices(),
    }

    def on_event(event: dict[str, Any]) -> None:
        if "start" in event:
            start = event["start"]
            ctx.progress(
                committed.rows,
                total=int(start["total"]),
                line=f"Ray Data: {start['todo']} chunk(s) of {chunk_rows} rows to predict"
                + (f", resuming after {start['committed']} committed chunk(s)" if start["committed"] else "")
                + f"; {start['actors']} actor(s) of {start['threads']} thread(s)",
            )
            return
        index, rows = int(event["chunk"]), int(event["rows"])
        if index in committed:  # replayed to a re-attached worker, or reported again by a new driver
            return
        committed.add(index, rows)
        first = index * chunk_rows
        ctx.progress(
            committed.rows,
            checkpoint={**ctx.checkpoint, **committed.checkpoint()},
            line=f"chunk {index} committed: rows {first}-{first + rows - 1}",
        )

    result: dict[str, Any] = run_on_cluster(ctx, address, TARGET, payload, on_event)
    ctx.check()  # a job cancelled while its output was assembled is not published (cleanup removes it)
    publish(Path(result.pop("assembled")), Path(result["output"]))
    rows = int(result["rows"])
    with contextlib.suppress(JobCancelled):  # too late to cancel: the output is published
        published = {**ctx.checkpoint, **committed.checkpoint(), "published": True}
        ctx.progress(rows, total=rows, checkpoint=published, line=f"wrote {rows} rows to {result['output']}")
    return result
