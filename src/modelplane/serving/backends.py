"""Where a deployment's model runs: `local` (inside the server for one replica, else replica processes on
this machine) or `ray` (every deployment as a Ray Serve application on the cluster, even one replica).

Either way the front end (REST, gRPC, auth, limits, metering, audit, the prediction log and the dynamic
batcher) stays in the modelplane process; only the model's copies move.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import TYPE_CHECKING

from modelplane.errors import Invalid

if TYPE_CHECKING:
    from modelplane.config import Settings
    from modelplane.registry.views import ModelVersionInfo
    from modelplane.serving.deployments import BatchingSpec
    from modelplane.serving.metrics import ServingMetrics
    from modelplane.serving.replicas.protocol import ReplicaSet
    from modelplane.serving.scaling import ScalingSpec
    from modelplane.store import Store

SERVE_BACKENDS = ("local", "ray")


@dataclass(frozen=True)
class ServeBackend:
    name: str = "local"
    ray_address: str | None = None  # with "ray": the checked head address (host:port or ray://...)

    def runs_in_process(self, scaling: ScalingSpec) -> bool:
        return self.name == "local" and scaling.in_process


def serve_backend(name: str, settings: Settings, address: str | None = None) -> ServeBackend:
    """The backend `name` names, checked before anything starts: with `ray`, Ray Serve must be installed
    and a head must answer at `address` (else MODELPLANE_RAY_ADDRESS, else the head `ray start --head`
    left on this machine)."""
    if name not in SERVE_BACKENDS:
        raise Invalid(f"--serve-backend must be local or ray, got {name!r}")
    if name == "local":
        return ServeBackend()
    from modelplane.cluster.connect import check_reachable

    if importlib.util.find_spec("ray") is None or importlib.util.find_spec("ray.serve") is None:
        raise Invalid("--serve-backend ray needs Ray Serve: pip install 'modelplane[ray]'")
    target = (address or settings.ray_address or "auto").strip()
    check_reachable(target)
    return ServeBackend("ray", target)


def start_replicas(
    backend: ServeBackend,
    store: Store,
    deployment: str,
    info: ModelVersionInfo,
    *,
    runtime: str | None,
    batching: BatchingSpec,
    scaling: ScalingSpec,
    metrics: ServingMetrics,
    replicas: int,
) -> ReplicaSet:
    """Blocking: the version's replicas where `backend` runs them, started with `replicas` (at least the
    scaling's minimum, and one: a version is proven to load and compute its largest batch first)."""
    count = max(replicas, scaling.least, 1)
    if backend.name == "ray":
        from modelplane.serving.ray_serve import RayServeVersion

        assert backend.ray_address is not None
        ray_set = RayServeVersion(
            store,
            deployment,
            info,
            address=backend.ray_address,
            runtime=runtime,
            max_batch_size=batching.max_batch_size,
            timeout_s=batching.timeout_s,
            scaling=scaling,
            metrics=metrics,
        )
        ray_set.start(count)
        return ray_set
    from modelplane.serving.replicas.replicated import ReplicatedVersion

    local_set = ReplicatedVersion(
        store,
        deployment,
        info,
        runtime=runtime,
        max_batch_size=batching.max_batch_size,
        timeout_s=batching.timeout_s,
        scaling=scaling,
        metrics=metrics,
    )
    local_set.start(count)
    return local_set
