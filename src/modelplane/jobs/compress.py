"""Compression as a job: the request is checked when the job is submitted; a worker makes and registers
the smaller version. A crashed attempt starts over (quantisation takes seconds, fine-tuning a few epochs)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelplane.compression.compress import check_compression, compress_version
from modelplane.compression.request import parse_request
from modelplane.jobs.context import JobCancelled, JobContext
from modelplane.jobs.queue import enqueue
from modelplane.jobs.views import JobInfo
from modelplane.store import Store
from modelplane.training.runs import StopRun


def submit_compress(store: Store, ref: str, request: Mapping[str, Any], *, by: str) -> JobInfo:
    parsed = parse_request(request)
    version = check_compression(store, ref, parsed)[0]  # bad input fails now, not in a worker
    return enqueue(
        store,
        "compress",
        {"ref": version.ref, "request": parsed.model_dump(mode="json", exclude_none=True), "by": by},
        by=by,
        note=f"{parsed.method} {version.ref}",
    )


class CompressKind:
    def run(self, ctx: JobContext) -> dict[str, Any]:
        import torch

        torch.set_num_threads(ctx.threads)

        def on_epoch(metrics: dict[str, float]) -> None:
            done = int(metrics["epoch"])
            try:
                ctx.progress(done, line=f"epoch {done}")
            except JobCancelled:
                raise StopRun("cancelled", "cancelled with `modelplane jobs cancel`") from None

        try:
            result = compress_version(
                ctx.store,
                str(ctx.params["ref"]),
                parse_request(ctx.params["request"]),
                by=str(ctx.params.get("by", "")),
                on_epoch=on_epoch,
            )
        except StopRun as stop:
            if stop.status == "cancelled":
                raise JobCancelled from None
            raise
        return result.to_dict()

    def cleanup(self, store: Store, job: JobInfo) -> None:
        """Nothing to undo: a version is registered only at the very end, in one transaction."""


KIND = CompressKind()
