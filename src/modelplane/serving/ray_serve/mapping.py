"""modelplane's scaling options as Ray Serve deployment options.

Ray's handle sees the batches the server's batcher sends, not requests. While the batcher has a free slot
it sends each request on its own (no idle wait), so a batch is one request until every slot is busy: then
`target_ongoing_requests = target_inflight` keeps the meaning the local autoscaler gives it (requests queued
or computing per replica). When the slots are all busy, requests merge into larger batches in the server,
each replica holds `max_ongoing_requests` batches, which is above the target, and Ray scales up: so
`max_ongoing_requests` is set above the target (and the batcher's slots are max replicas times it).
"""

from __future__ import annotations

import math
from typing import Any

from modelplane.serving.scaling import ScalingSpec

# Threads (and CPUs reserved) per Ray replica: one, so Ray places replicas by CPU and throughput grows with
# replicas across the nodes (the local backend instead shares this machine's cores among its replicas).
REPLICA_THREADS = 1
# Batches a fixed-size replica holds at once: one computing and the next one already there.
_FIXED_ONGOING = 2
# A replica that is not answering is restarted by Serve after this long (its batches are retried).
_HEALTH_TIMEOUT_S = 30.0


def max_ongoing(scaling: ScalingSpec) -> int:
    """Batches one replica may hold (computing or queued at it); above the autoscaling target, so Ray can
    see more than the target per replica and scale up."""
    auto = scaling.autoscale
    return max(_FIXED_ONGOING, math.floor(auto.target_inflight) + 1) if auto else _FIXED_ONGOING


def deployment_options(scaling: ScalingSpec, *, start: int, runtime_env: dict[str, Any]) -> dict[str, Any]:
    """Options for `serve.deployment`: fixed replicas as `num_replicas`; autoscaling as Ray's
    request-based autoscaler with the same bounds, target, window (upscale delay) and cooldown (downscale
    delay), starting at `start` replicas (within the bounds, at least one: a version is proven to load
    before it is served, even one that may scale to zero)."""
    options: dict[str, Any] = {
        "max_ongoing_requests": max_ongoing(scaling),
        "ray_actor_options": {"num_cpus": REPLICA_THREADS, "runtime_env": runtime_env},
        "health_check_timeout_s": _HEALTH_TIMEOUT_S,
        "graceful_shutdown_timeout_s": 5.0,  # the server drained its batcher before it deletes the app
        "graceful_shutdown_wait_loop_s": 0.2,
    }
    auto = scaling.autoscale
    if auto is None:
        options["num_replicas"] = scaling.replicas
        return options
    options["autoscaling_config"] = {
        "min_replicas": auto.min_replicas,
        "max_replicas": auto.max_replicas,
        "initial_replicas": min(auto.max_replicas, max(1, start, auto.min_replicas)),
        "target_ongoing_requests": auto.target_inflight,
        "upscale_delay_s": auto.window_s,
        "downscale_delay_s": auto.cooldown_s,
    }
    return options
