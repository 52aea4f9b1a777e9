"""Request-based autoscaling of one version's replicas (the rule Knative's and Ray Serve's follow).

Wanted replicas = ceil(requests in flight / target per replica), within [MIN, MAX]. Up: when every sample
of the last `window_s` wanted more than run now (a need that holds, not a spike), to the least of them.
Down: when no sample of the last `cooldown_s` wanted as many as run now, and nothing changed for that long,
to the most of them. From zero: at once, when a request waits and no replica runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections import deque
from collections.abc import Awaitable, Callable

from modelplane.serving.scaling import AutoscaleSpec

log = logging.getLogger(__name__)


class ScalePolicy:
    """Pure decisions from (time, load, replicas) samples, so the rule is tested without processes."""

    def __init__(self, spec: AutoscaleSpec, now: float) -> None:
        self.spec = spec
        self._samples: deque[tuple[float, int]] = deque()
        self._changed = now

    def wanted(self, load: float) -> int:
        spec = self.spec
        return min(spec.max_replicas, max(spec.min_replicas, math.ceil(load / spec.target_inflight)))

    def decide(self, now: float, load: float, current: int) -> tuple[int, str] | None:
        """The replica count to go to now and why ("load", "idle"), or None to stay."""
        spec = self.spec
        want = self.wanted(load)
        self._samples.append((now, want))
        horizon = max(spec.window_s, spec.cooldown_s)
        while len(self._samples) > 1 and self._samples[1][0] <= now - horizon:
            self._samples.popleft()
        if current == 0 and load > 0:
            return max(1, want), "load"
        if want > current and self._held(now, spec.window_s):
            least = min(w for t, w in self._samples if t >= now - spec.window_s)
            if least > current:
                return least, "load"
        if want < current and self._held(now, spec.cooldown_s):
            most = max(w for t, w in self._samples if t >= now - spec.cooldown_s)
            if most < current:
                return most, "idle"
        return None

    def changed(self, now: float) -> None:
        self._changed = now

    def _held(self, now: float, span: float) -> bool:
        """Samples cover the last `span` seconds and nothing changed within them."""
        return now - self._changed >= span and self._samples[0][0] <= now - span


class Autoscaler:
    """Samples `load()` every tick on the event loop and calls `resize(count, cause)` when the policy says."""

    def __init__(
        self,
        spec: AutoscaleSpec,
        *,
        load: Callable[[], float],
        count: Callable[[], int],
        resize: Callable[[int, str], Awaitable[None]],
        name: str,
    ) -> None:
        self.spec = spec
        self._load = load
        self._count = count
        self._resize = resize
        self._name = name
        self._tick = min(0.25, spec.window_s / 4)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"autoscaler-{self._name}")

    def nudge(self) -> None:
        """A request is waiting with no replica up: decide now, not at the next tick."""
        self._wake.set()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        policy = ScalePolicy(self.spec, loop.time())
        while True:
            with contextlib.suppress(TimeoutError):  # a tick with no nudge
                await asyncio.wait_for(self._wake.wait(), self._tick)
            self._wake.clear()
            decision = policy.decide(loop.time(), self._load(), self._count())
            if decision is None:
                continue
            try:
                await self._resize(*decision)
            except Exception:  # a replica that cannot start now: keep serving, try again later
                log.exception("autoscaling %s to %d replicas failed", self._name, decision[0])
            policy.changed(loop.time())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
