"""Which deployments hold memory on this server under a memory budget (`serve/up --memory-budget`).

Every loaded version's resident size is measured (`serving.budget`). When loading one would take the
accounted bytes past the budget, the least recently used idle deployment is evicted first: its route is
taken out (new requests stop reaching it), its versions are retired and dropped, and freed memory is handed
back to the system. An evicted deployment stays deployed: it is *parked*, its metadata kept for
GET /v2/models/{name}, and its next inference request (REST V2, /v1/predict, gRPC: all through
`ModelManager.infer`) loads it again; requests arriving meanwhile wait for that one load.

Idle means nothing of it is in the manager (decoding, queued, computing) and nothing in its batchers (a
shadow copy still computing): a deployment with requests in flight is never evicted. When nothing idle can
go, the load waits for a deployment to become idle, up to the timeout of the deployment being loaded, and
then fails with 503 and Retry-After (Unavailable). Waiting rather than refusing at once is what lets a
round-robin load over more deployments than fit answer every request: the deployments in flight finish
within milliseconds and become evictable.

This is not the repository `unload` (explicit, stays off until `load`): an evicted deployment comes back on
its own, and syncs with the store leave it parked (a changed spec is loaded at its next request).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from modelplane.errors import DeadlineExceeded, Unavailable
from modelplane.serving.budget import (
    MemoryBudget,
    accounted,
    file_bytes,
    measured_load,
    release_memory,
    resident_bytes,
    route_bytes,
    text,
)
from modelplane.serving.deployments import BatchingSpec, DeploymentSpec, resolve
from modelplane.serving.loaded import LoadedVersion
from modelplane.serving.routing import Route

if TYPE_CHECKING:
    from modelplane.registry.views import ModelVersionInfo
    from modelplane.serving.manager import ModelManager

log = logging.getLogger(__name__)
_IDLE_POLL_S = 0.05  # a shadow copy ending is not signalled; look this often while waiting for room


@dataclass(frozen=True)
class Parked:
    """An evicted deployment: enough to answer metadata and config, and its size when it left."""

    shell: Route  # the route without its versions: metadata only
    batching: BatchingSpec
    resident_bytes: int


class Residency:
    """Owned by one `ModelManager`; its `_swap` loads versions through `load_version`."""

    def __init__(self, manager: ModelManager, budget: MemoryBudget, metrics: Any | None) -> None:
        self.manager = manager
        self.budget = budget
        self.metrics = metrics
        self.parked: dict[str, Parked] = {}
        self.short_of_room: set[str] = set()  # deployments a store sync could not make room for
        self._busy: dict[str, int] = {}  # requests inside ModelManager.infer, per deployment
        self._reviving: dict[str, asyncio.Future[None]] = {}
        self._idle = asyncio.Event()
        if metrics is not None and budget.limit is not None:
            metrics.set_memory_budget(budget.limit)

    # requests ------------------------------------------------------------------------------------------
    def enter(self, name: str) -> None:
        self._busy[name] = self._busy.get(name, 0) + 1
        self.budget.touch(name)

    def leave(self, name: str) -> None:
        left = self._busy[name] - 1
        if left:
            self._busy[name] = left
        else:
            del self._busy[name]
            self._idle.set()

    def busy(self, name: str) -> bool:
        if name in self._busy:
            return True
        route = self.manager.deployments().get(name)
        return route is not None and any(v.batcher.queue_depth or v.batcher.in_flight for v in route.loaded())

    async def revive(self, name: str) -> None:
        """Load `name` again if the budget evicted it (one load for every request that waits; each waits
        at most its deployment's timeout)."""
        parked = self.parked.get(name)
        if parked is None:
            self.manager.route(name)  # NotFound, with the reason, for a name not served here
            return
        future = self._reviving.get(name)
        if future is None:
            future = self._reviving[name] = asyncio.ensure_future(self._reload(name))
            future.add_done_callback(partial(self._revived, name))
        timeout = parked.batching.timeout_s
        try:
            await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            raise DeadlineExceeded(
                f"deployment '{name}' was unloaded by the memory budget and did not load again within its "
                f"timeout ({timeout:g} s); retry"
            ) from None

    async def _reload(self, name: str) -> None:
        await self.manager.load(name, parked_only=True)

    def _revived(self, name: str, future: asyncio.Future[None]) -> None:
        self._reviving.pop(name, None)
        if not future.cancelled() and future.exception() is not None:  # read: every waiter may have left
            log.warning("reloading deployment %s failed: %s", name, future.exception())

    # loads (under the manager's sync lock) -------------------------------------------------------------
    async def load_version(
        self, name: str, info: ModelVersionInfo, spec: DeploymentSpec, pending: int, replicas: int = 0
    ) -> LoadedVersion:
        """Load one version of `name` (measured), after making room for it beside the `pending` bytes this
        swap loaded already; a version that alone could never fit is refused before it is loaded."""
        budget, chosen = self.budget, spec.runtime
        at_least = max(file_bytes(info, chosen), budget.known(info, chosen))
        refusal = budget.too_large(name, pending + at_least, "measured when it was loaded before")
        if refusal is not None:
            raise refusal
        need = pending + budget.estimate(info, chosen)
        if budget.limit is not None:  # a guess past the budget must not refuse: the measured size decides
            need = min(need, max(budget.limit, pending + at_least))
        await self.make_room(name, need, spec.batching.timeout_s)
        manager = self.manager
        load = partial(
            LoadedVersion.load,
            manager.store,
            name,
            info,
            spec.batching,
            manager.metrics,
            chosen,
            spec.scaling,
            replicas,
            manager.backend,
        )
        version = await asyncio.to_thread(measured_load, load, file_bytes(info, chosen))
        if version.replicated is not None:  # its copies live in processes of their own: count those
            version.resident_bytes = version.replicated.resident_bytes()
        budget.remember(version)
        return version

    async def check_fits(self, route: Route, old: Route | None) -> None:
        """Refuse (and drop the versions it loaded) a deployment whose measured size exceeds the budget."""
        refusal = self.budget.too_large(route.name, route_bytes(route), "measured")
        if refusal is None:
            return
        keep = {id(v) for v in old.loaded()} if old is not None else set()
        dropped = [v for v in route.loaded() if id(v) not in keep]
        await asyncio.gather(*(v.retire() for v in dropped))
        del dropped, route
        await asyncio.to_thread(release_memory)
        raise refusal

    async def make_room(self, name: str, need: int, wait_s: float) -> None:
        """Evict least recently used idle deployments (never `name`) until `need` more bytes fit; wait up
        to `wait_s` for one to become idle, then Unavailable."""
        budget, routes = self.budget, self.manager.deployments
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while not budget.fits(accounted(routes()), need):
            others = [n for n in routes() if n != name]
            if not others:  # all evictable is gone: only `name`'s own old versions hold the rest
                return
            victim = budget.least_recent(others, self.busy)
            if victim is not None:
                await self.evict(victim)
                continue
            left = deadline - loop.time()
            if left <= 0:
                if name not in self.parked:
                    self.short_of_room.add(name)
                raise Unavailable(
                    f"the memory budget ({text(budget.limit or 0)}) is held by deployments with requests "
                    f"in flight ({', '.join(sorted(others))}); "
                    f"'{name}' needs {text(need)} more; retry",
                    retry_after=1.0,
                )
            self._idle.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), min(left, _IDLE_POLL_S))

    async def evict(self, name: str) -> None:
        """Park `name` (idle: the caller checked, and nothing awaits between that check and here) and give
        its memory back."""
        route = self.manager.take(name)
        size = route_bytes(route)
        batching = (route.primary or route.members[0]).batching
        shell = dataclasses.replace(
            route, primary=None, canary=None, shadow=None, members=[], _shadow_tasks=set()
        )
        self.parked[name] = Parked(shell, batching, size)
        before = resident_bytes()
        await asyncio.gather(*(v.retire() for v in route.loaded()))
        del route
        await asyncio.to_thread(release_memory)
        log.info(
            "memory budget: unloaded %s (%s accounted; RSS fell by %s); its next request loads it again",
            name,
            text(size),
            text(before - resident_bytes()),
        )
        if self.metrics is not None:
            self.metrics.observe_budget_unload(name)
            self.metrics.set_resident(name, 0)

    async def measure(self, name: str, spec: DeploymentSpec) -> None:
        """At deploy (`up`: the control plane beside this data plane), refuse a deployment larger than the
        budget, naming both sizes. A version never measured here is loaded, measured and released (after
        making room for it, as its load would anyway); nothing of it stays loaded."""
        if self.budget.limit is None:
            return
        async with self.manager.sync_lock:
            resolved = await asyncio.to_thread(resolve, self.manager.store, spec)
            total = 0
            for info in resolved.versions().values():
                size = self.budget.known(info, spec.runtime)
                if not size:
                    version = await self.load_version(name, info, spec, total)
                    size = version.resident_bytes
                    await version.retire()
                    del version
                    await asyncio.to_thread(release_memory)
                total += size
            refusal = self.budget.too_large(name, total, "measured")
            if refusal is not None:
                raise refusal

    # bookkeeping ---------------------------------------------------------------------------------------
    def serving(self, route: Route) -> None:
        """`route` is served now (loaded, or reloaded after an eviction)."""
        self.parked.pop(route.name, None)
        self.short_of_room.discard(route.name)
        if self.metrics is not None:
            self.metrics.set_resident(route.name, route_bytes(route))

    def gone(self, name: str) -> None:
        """`name` is no longer served here (undeployed, or unloaded through the repository API)."""
        self.parked.pop(name, None)
        self.short_of_room.discard(name)
        self.budget.forget(name)
        if self.metrics is not None:
            self.metrics.forget_resident(name)

    def prune(self, names: Iterable[str]) -> None:
        """Forget parked deployments that are no longer stored."""
        for name in set(self.parked) - set(names):
            self.gone(name)

    def size(self, name: str) -> tuple[bool, int | None]:
        """(loaded, resident bytes: measured while loaded, the size it had when evicted, None if unknown)."""
        route = self.manager.deployments().get(name)
        if route is not None:
            return True, route_bytes(route)
        parked = self.parked.get(name)
        return False, parked.resident_bytes if parked is not None else None

    def summary(self) -> dict[str, Any]:
        """For benchmarks and tests: the budget, what it accounts, what is loaded and parked, and RSS."""
        routes = self.manager.deployments()
        return {
            "budget_bytes": self.budget.limit,
            "accounted_bytes": accounted(routes),
            "loaded": sorted(routes),
            "parked": sorted(self.parked),
            "bytes": {name: route_bytes(route) for name, route in sorted(routes.items())},
            "rss_bytes": resident_bytes(),
        }
