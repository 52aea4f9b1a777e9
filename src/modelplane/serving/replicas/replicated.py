"""A version served by replica processes: its pool, its autoscaler, and what they report (the replica
count as a Prometheus gauge, every change as a counter and an audit entry)."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from modelplane.cores import usable_cores
from modelplane.security import audit
from modelplane.serving.replicas.autoscaler import Autoscaler
from modelplane.serving.replicas.pool import ReplicaPool
from modelplane.serving.scaling import ScalingSpec

if TYPE_CHECKING:
    from modelplane.registry.views import ModelVersionInfo
    from modelplane.serving.batcher import DynamicBatcher
    from modelplane.serving.metrics import ServingMetrics
    from modelplane.store import Store

log = logging.getLogger(__name__)
_LOAD_TIMEOUT_S = 120.0
_ACTOR = "autoscaler"


def threads_per_replica(scaling: ScalingSpec) -> int:
    """ONNX Runtime threads each replica gets: the cores shared out over the most replicas that may run,
    so a full set of replicas does not oversubscribe the machine."""
    return max(1, usable_cores() // scaling.most)


class ReplicatedVersion:
    """Stands where an in-process runtime would (`predict`, `platform`) for the version's batcher; a
    `ReplicaSet` of processes on this machine."""

    def __init__(
        self,
        store: Store,
        deployment: str,
        info: ModelVersionInfo,
        *,
        runtime: str | None,
        max_batch_size: int,
        timeout_s: float,
        scaling: ScalingSpec,
        metrics: ServingMetrics,
    ) -> None:
        self.store = store
        self.deployment = deployment
        self.version = str(info.version)
        self.scaling = scaling
        self._metrics = metrics
        setup = {
            "store": store.handover(),
            "ref": info.ref,
            "runtime": runtime,
            "threads": threads_per_replica(scaling),
            "max_batch_size": max_batch_size,
        }
        self.pool = ReplicaPool(
            setup, timeout_s=timeout_s, load_timeout_s=_LOAD_TIMEOUT_S, on_count=self._counted
        )
        self._batcher: DynamicBatcher | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.autoscaler: Autoscaler | None = None

    @property
    def platform(self) -> str:
        return self.pool.platform

    @property
    def count(self) -> int:
        return self.pool.count

    @property
    def slots(self) -> int:
        """One batch per replica at most: an idle replica is there when a batch starts."""
        return self.scaling.most

    def start(self, replicas: int) -> None:
        """Blocking: start `replicas` (at least one: a version is proven to load and compute its largest
        batch before it is served, even one that may scale to zero)."""
        self.pool.resize(max(1, replicas))
        self._metrics.observe_scale(self.deployment, self.version, "up", "start")

    def resident_bytes(self) -> int:
        return self.pool.resident_bytes()

    def predict(self, x: np.ndarray) -> dict[str, np.ndarray]:
        return self.pool.predict(x)

    def attach(self, batcher: DynamicBatcher) -> None:
        self._batcher = batcher
        batcher.set_slots(self.pool.count)

    async def begin(self) -> None:
        """On the event loop, once the version is routed to: follow the pool from here, and autoscale."""
        self._loop = asyncio.get_running_loop()
        spec = self.scaling.autoscale
        if spec is not None and self._batcher is not None:
            batcher = self._batcher
            self.autoscaler = Autoscaler(
                spec,
                load=lambda: batcher.queue_depth + batcher.in_flight,
                count=lambda: self.pool.count,
                resize=self.resize,
                name=f"{self.deployment}@{self.version}",
            )
            self.autoscaler.start()

    def wake(self) -> None:
        """A request arrived: when no replica runs (scaled to zero), start one now."""
        if self.autoscaler is not None and self.pool.count == 0:
            self.autoscaler.nudge()

    async def resize(self, count: int, cause: str) -> None:
        before = await asyncio.to_thread(self.pool.resize, count)
        if before == count:
            return
        direction = "up" if count > before else "down"
        self._metrics.observe_scale(self.deployment, self.version, direction, cause)
        log.info("%s@%s: %d -> %d replicas (%s)", self.deployment, self.version, before, count, cause)
        details = {"version": self.version, "from": before, "to": count, "cause": cause}
        await asyncio.to_thread(self._audit, details)

    def _audit(self, details: dict[str, Any]) -> None:
        with self.store.db.session() as session:
            audit.append(session, _ACTOR, "deployment.scaled", self.deployment, details)

    def _counted(self, count: int) -> None:
        """The pool's replica count changed (from any thread): tell the batcher on its loop."""
        self._metrics.set_replicas(self.deployment, self.version, count)
        batcher = self._batcher
        if batcher is None:
            return
        loop = self._loop
        if loop is None:
            batcher.set_slots(count)
        elif loop.is_running():
            loop.call_soon_threadsafe(batcher.set_slots, count)

    async def close(self) -> None:
        """After the batcher drained: stop autoscaling and every replica."""
        if self.autoscaler is not None:
            await self.autoscaler.stop()
        await asyncio.to_thread(self.pool.close)
