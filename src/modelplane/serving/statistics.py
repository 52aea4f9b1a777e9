"""Triton-style inference statistics of one loaded version, and their V2 statistics-extension shape.

The batcher owns one `VersionStatistics` and adds to it where it already does per-batch bookkeeping on the
event loop (`_finish`, `_expire`): plain adds of counts and float seconds (nanoseconds only when read), no
lock (only the loop writes them), no per-request allocation. What it counts is what reached the version's
queue: a request refused before (bad input, auth, quota, a full queue) shows in `/metrics` by status, not
here. Durations are reported in nanoseconds, as in Triton:

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
        "compute_infer_s",
        "compute_input_s",
        "compute_output_s",
        "execution_count",
        "fail_count",
        "fail_s",
        "inference_count",
        "last_inference",
        "queue_count",
        "queue_s",
        "success_count",
        "success_s",
    )

    def __init__(self) -> None:
        self.success_count = self.fail_count = self.queue_count = 0
        self.inference_count = self.execution_count = 0
        self.success_s = self.fail_s = self.queue_s = 0.0
        self.compute_input_s = self.compute_infer_s = self.compute_output_s = 0.0
        self.last_inference = 0.0  # time.time() of the last finished batch

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
        seconds = {
            "success": self.success_s,
            "fail": self.fail_s,
            "queue": self.queue_s,
            "compute_input": self.compute_input_s,
            "compute_infer": self.compute_infer_s,
            "compute_output": self.compute_output_s,
        }
        return {
            "name": name,
            "version": version,
            "last_inference": int(self.last_inference * 1000),
            "inference_count": self.inference_count,
            "execution_count": self.execution_count,
            "inference_stats": {p: {"count": counts[p], "ns": round(seconds[p] * 1e9)} for p in _PHASES},
            "batch_stats": [],
        }


def combined(parts: list[VersionStatistics]) -> VersionStatistics:
    """An ensemble's figures: every request goes to each member, so request counts are the first member's,
    while runtime calls and their times add up over members."""
    total = VersionStatistics()
    first = parts[0]
    for slot in ("success_count", "success_s", "fail_count", "fail_s", "inference_count"):
        setattr(total, slot, getattr(first, slot))
    for slot in (
        "queue_count",
        "queue_s",
        "compute_input_s",
        "compute_infer_s",
        "compute_output_s",
        "execution_count",
    ):
        setattr(total, slot, sum(getattr(part, slot) for part in parts))
    total.last_inference = max(part.last_inference for part in parts)
    return total
