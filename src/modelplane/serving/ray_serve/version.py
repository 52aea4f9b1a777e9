"""A version served by Ray Serve: one Serve application per modelplane deployment version, named for this
server's copy of it (so servers and tests sharing a head never touch each other's), deleted when the
version is retired or the server stops. Ray's HTTP proxy is never started: modelplane's front end is the
HTTP and gRPC server, and it reaches the replicas through the application's handle.

The replica count Serve reports is polled into the `modelplane_replicas` gauge; each change Ray's
autoscaler makes is counted and audited as the local autoscaler's are (cause "serve").
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from modelplane.errors import Invalid, Unavailable
from modelplane.security import audit
from modelplane.serving.ray_serve.mapping import REPLICA_THREADS, deployment_options, max_ongoing
from modelplane.serving.replicas.pool import raise_reported
from modelplane.serving.scaling import ScalingSpec

if TYPE_CHECKING:
    from modelplane.registry.views import ModelVersionInfo
    from modelplane.serving.batcher import DynamicBatcher
    from modelplane.serving.metrics import ServingMetrics
    from modelplane.store import Store

log = logging.getLogger(__name__)
DEPLOYMENT = "model"  # the one Serve deployment in each application
_START_TIMEOUT_S = 120.0
_POLL_S = 1.0
_ACTOR = "ray-serve"


def app_name(deployment: str, version: str) -> str:
    """`modelplane-<deployment>-v<version>-<6 hex>`: unique to this server's copy of the version."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "-", deployment)
    return f"modelplane-{safe}-v{version}-{secrets.token_hex(3)}"


class RayServeVersion:
    """A `ReplicaSet` of Ray Serve replicas; `start` before use, `close` after the batcher drained."""

    def __init__(
        self,
        store: Store,
        deployment: str,
        info: ModelVersionInfo,
        *,
        address: str,
        runtime: str | None,
        max_batch_size: int,
        timeout_s: float,
        scaling: ScalingSpec,
        metrics: ServingMetrics,
    ) -> None:
        self.store = store
        self.deployment = deployment
        self.version = str(info.version)
        self.ref = info.ref
        self.address = address
        self.scaling = scaling
        self.app = app_name(deployment, self.version)
        self._timeout = timeout_s
        self._metrics = metrics
        # The store's handover (its paths and settings, keys included) becomes the replicas' init argument,
        # which Serve keeps in the cluster to start replicas later: the cluster is trusted with the store.
        self._setup = {
            "store": store.handover(),
            "ref": info.ref,
            "runtime": runtime,
            "threads": REPLICA_THREADS,
            "max_batch_size": max_batch_size,
        }
        self._platform = ""
        self._count = 0
        self._handle: Any = None
        self._poller: asyncio.Task[None] | None = None

    @property
    def platform(self) -> str:
        return self._platform

    @property
    def count(self) -> int:
        return self._count

    @property
    def slots(self) -> int:
        """Enough batches at once for every replica Serve may run to hold its most: Ray's router, not the
        batcher, decides which replica takes each."""
        return self.scaling.most * max_ongoing(self.scaling)

    def start(self, replicas: int) -> None:
        """Blocking: deploy the application, wait until Serve runs it, and prove the version loads (a
        replica's `ready`); on any failure the application is deleted again and the reason raised."""
        from ray import serve

        from modelplane.cluster.connect import connect, worker_env
        from modelplane.serving.ray_serve.replica import ModelReplica

        connect(self.address)
        serve.start(proxy_location="Disabled")
        options = deployment_options(self.scaling, start=replicas, runtime_env=worker_env())
        app = serve.deployment(name=DEPLOYMENT, **options)(ModelReplica).bind(self._setup)
        target = serve.RunTarget(target=app, name=self.app, route_prefix=None)
        serve.run_many([target], wait_for_applications_running=False)
        try:
            self._wait_running()
            handle = serve.get_app_handle(self.app)
            ready = handle.ready.remote().result(timeout_s=_START_TIMEOUT_S)
        except BaseException:
            self._delete()
            raise
        if "error" in ready:
            self._delete()
            raise Invalid(f"{self.ref} cannot be served: {ready['error']}")
        self._platform = ready["platform"]
        self._handle = handle
        self._observe(self._running_replicas(), "start")

    def _wait_running(self) -> None:
        from ray import serve

        deadline = time.monotonic() + _START_TIMEOUT_S
        while True:
            status = serve.status().applications.get(self.app)
            state = str(status.status) if status is not None else "NOT_STARTED"
            if state.endswith("RUNNING"):
                return
            if state.endswith("DEPLOY_FAILED"):
                why = (status.message if status is not None else "").strip().splitlines()
                raise Invalid(f"{self.ref} did not start on Ray Serve: {why[-1] if why else state}")
            if time.monotonic() > deadline:
                raise Invalid(
                    f"{self.ref} was not running on Ray Serve after {_START_TIMEOUT_S:g}s (state {state}); "
                    f"each replica needs {REPLICA_THREADS} free CPU on the cluster (`ray status` shows them)"
                )
            time.sleep(0.1)

    def _running_replicas(self) -> int:
        import ray
        from ray import serve

        if not ray.is_initialized():  # Serve's API would start a new local cluster: report none instead
            return 0
        app = serve.status().applications.get(self.app)
        deployment = app.deployments.get(DEPLOYMENT) if app is not None else None
        if deployment is None:
            return 0
        return sum(n for state, n in deployment.replica_states.items() if str(state).endswith("RUNNING"))

    def resident_bytes(self) -> int:
        """Serve's replicas run on the cluster's nodes: nothing of this machine's budget."""
        return 0

    def predict(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Blocking, from the batcher's executor threads: one batch through the application's handle."""
        from ray.exceptions import RayError

        try:
            header, outputs = self._handle.remote(x).result(timeout_s=self._timeout)
        except TimeoutError:
            late = f"{self.ref} on Ray Serve did not answer in {self._timeout:g}s; retry"
            raise Unavailable(late) from None
        except RayError as exc:
            failed = f"a Ray Serve replica of {self.ref} failed ({type(exc).__name__}); retry"
            raise Unavailable(failed) from None
        if "error" in header:
            raise_reported(header)
        return dict(outputs)

    def attach(self, batcher: DynamicBatcher) -> None:
        batcher.set_slots(self.slots)

    async def begin(self) -> None:
        """On the event loop, once routed to: follow the replica count Serve reports."""
        self._poller = asyncio.get_running_loop().create_task(self._follow(), name=f"ray-serve-{self.app}")

    def wake(self) -> None:
        """Nothing to do: Serve's handle starts a replica itself for a request to a set scaled to zero."""

    async def _follow(self) -> None:
        while True:
            await asyncio.sleep(_POLL_S)
            try:
                count = await asyncio.to_thread(self._running_replicas)
            except Exception:  # the controller is busy or restarting: read it again next time
                log.warning("reading Ray Serve's status of %s failed", self.app, exc_info=True)
                continue
            if count != self._count:
                before = self._count
                self._observe(count, "serve")
                await asyncio.to_thread(self._audit, before, count)

    def _observe(self, count: int, cause: str) -> None:
        if count != self._count or cause == "start":
            direction = "up" if count >= self._count else "down"
            self._metrics.observe_scale(self.deployment, self.version, direction, cause)
        self._count = count
        self._metrics.set_replicas(self.deployment, self.version, count)

    def _audit(self, before: int, count: int) -> None:
        details = {"version": self.version, "from": before, "to": count, "cause": "serve", "app": self.app}
        log.info("%s@%s: %d -> %d replicas (Ray Serve)", self.deployment, self.version, before, count)
        with self.store.db.session() as session:
            audit.append(session, _ACTOR, "deployment.scaled", self.deployment, details)

    async def close(self) -> None:
        """After the batcher drained: stop following and delete the application (its replicas end)."""
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
        await asyncio.to_thread(self._delete)
        self._count = 0

    def _delete(self) -> None:
        import ray
        from ray import serve

        if not ray.is_initialized():  # this process left the cluster (its exit): Serve's API would start a
            log.warning("not connected to Ray: the Serve application %s is left to the cluster", self.app)
            return  # new local cluster of its own rather than reach the one that runs the application
        try:
            serve.delete(self.app)
        except Exception:  # the cluster went away: nothing of ours is left running on it
            log.warning("deleting the Ray Serve application %s failed", self.app, exc_info=True)
