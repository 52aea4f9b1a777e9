"""Triton-style inference statistics of one loaded version, and their V2 statistics-extension shape.

The batcher owns one `VersionStatistics` and adds to it where it already does per-batch bookkeeping on the
event loop (`_finish`, `_expire`): plain integer adds, no lock (only the loop writes them), no per-request
allocation. What it counts is what reached the version's queue: a request refused before (bad input, auth,
quota, a full queue) shows in `/metrics` by status, not here. Durations are nanoseconds, as in Triton:

- success / fail: requests answered / failed (runtime error, timeout), from entering the queue to the answer;
- queue: the wait before a request's first rows went to the runtime;
- compute_input / compute_infer / compute_output: per batch, joining the requests' rows into one array, the
  runtime call, and splitting the outputs back per request;
- inference_count: rows answered; execution_count: runtime calls (batches);
- last_inference: when the last batch finished, in milliseconds since the epoch (0: never).
"""

from __future__ import annotations

from typing import Any

_PHASES = ("success", "fail", "queue", "compute_input", "compute_infer", "compute_output")


class VersionStatistics:
    __slots__ = (
        "compute_infer_ns",
        "compute_input_ns",
        "compute_output_ns",
        "execution_count",
        "fail_count",
        "fail_ns",
        "inference_count",
        "last_inference_ms",
        "queue_count",
        "queue_ns",
        "success_count",
        "success_ns",
    )

    def __init__(self) -> None:
        self.success_count = self.success_ns = 0
        self.fail_count = self.fail_ns = 0
        self.queue_count = self.queue_ns = 0
        self.compute_input_ns = self.compute_infer_ns = self.compute_output_ns = 0
        self.inference_count = self.execution_count = 0
        self.last_inference_ms = 0

    def to_dict(self, name: str, version: str) -> dict[str, Any]:
        """One `model_stats` entry (field names as Triton's statistics extension and its protobuf)."""
        batches = self.execution_count
        counts = {
            "success": self.success_count,
            "fail": self.fail_count,
            "queue": self.queue_count,
            "compute_input": batches,
            "compute_infer": batches,
            "compute_output": batches,
        }
        durations = {
            "success": self.success_ns,
            "fail": self.fail_ns,
            "queue": self.queue_ns,
            "compute_input": self.compute_input_ns,
            "compute_infer": self.compute_infer_ns,
            "compute_output": self.compute_output_ns,
        }
        return {
            "name": name,
            "version": version,
            "last_inference": self.last_inference_ms,
            "inference_count": self.inference_count,
            "execution_count": self.execution_count,
            "inference_stats": {p: {"count": counts[p], "ns": durations[p]} for p in _PHASES},
            "batch_stats": [],
        }


def combined(parts: list[VersionStatistics]) -> VersionStatistics:
    """An ensemble's figures: every request goes to each member, so request counts are the first member's,
    while runtime calls and their times add up over members."""
    total = VersionStatistics()
    first = parts[0]
    for slot in ("success_count", "success_ns", "fail_count", "fail_ns", "inference_count"):
        setattr(total, slot, getattr(first, slot))
    for slot in (
        "queue_count",
        "queue_ns",
        "compute_input_ns",
        "compute_infer_ns",
        "compute_output_ns",
        "execution_count",
    ):
        setattr(total, slot, sum(getattr(part, slot) for part in parts))
    total.last_inference_ms = max(part.last_inference_ms for part in parts)
    return total
