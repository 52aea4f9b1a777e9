"""Taking back a new version that fails: it did not load or warm up, or too many of its first requests
failed in the runtime. The server then puts the store back to what it served before, so every server (and
the next restart) serves the previous version again: the deployment's previous spec when the spec changed,
else the alias moved back (the rollback users do by hand), else the ref pinned to the version served
before. Each revert is an audit entry, `deployment.reverted`, and so an event.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from modelplane.refs import Ref
from modelplane.registry.registry import get_version, set_alias
from modelplane.registry.views import ModelVersionInfo
from modelplane.security import audit
from modelplane.serving.deployments import DeploymentInfo, DeploymentSpec, Resolved, save_deployment
from modelplane.serving.scaling import RolloutSpec
from modelplane.store import Store
from modelplane.store.orm import Deployment

log = logging.getLogger(__name__)
ACTOR = "rollout"


class RolloutWatch:
    """Counts a new version's first requests and calls `on_failing(reason)` once, as soon as more than the
    allowed share of them failed (no later answers can bring the share back under)."""

    __slots__ = ("_allowed", "_failed", "_limit", "_on_failing", "_seen", "active")

    def __init__(self, spec: RolloutSpec, on_failing: Callable[[str], None]) -> None:
        self._limit = spec.check_requests
        self._allowed = int(spec.max_error_share * spec.check_requests)
        self._on_failing = on_failing
        self._seen = 0
        self._failed = 0
        self.active = spec.check_requests > 0

    def record(self, failed: bool) -> None:
        if not self.active:
            return
        self._seen += 1
        self._failed += failed
        if self._failed > self._allowed:
            self.active = False
            self._on_failing(
                f"{self._failed} of its first {self._seen} requests failed (more than "
                f"{self._allowed} of {self._limit} allowed)"
            )
        elif self._seen >= self._limit:
            self.active = False


@dataclass(frozen=True)
class Served:
    """What a server served for a deployment before a change: its spec and the version each ref was."""

    info: DeploymentInfo
    versions: dict[str, int]  # ref as written in the spec -> version it resolved to

    @property
    def key(self) -> tuple[str, int, tuple[tuple[str, int], ...]]:
        return self.info.name, self.info.generation, tuple(sorted(self.versions.items()))


def revert(store: Store, before: Served, failing: DeploymentInfo, reason: str) -> str | None:
    """Put the store back to `before`; None when the deployment changed again since `failing` (someone
    else's fix wins) or nothing differs. Returns what was done, for the log."""
    name = before.info.name
    with store.db.session() as session:
        row = session.scalar(select(Deployment).where(Deployment.name == name))
        if row is None or row.generation != failing.generation:
            return None
    done: str | None
    if failing.spec != before.info.spec:
        save_deployment(store, before.info.spec, name=name, by=ACTOR)
        done = f"spec of generation {before.info.generation} restored"
    else:
        done = _move_back(store, failing.spec, before, name)
        if done is None:
            return None
    with store.db.session() as session:
        audit.append(session, ACTOR, "deployment.reverted", name, {"reason": reason, "done": done})
    return done


def _move_back(store: Store, spec: DeploymentSpec, before: Served, name: str) -> str | None:
    """The spec is unchanged, so a ref resolves elsewhere now: move its alias back, or pin a bare name."""
    pinned = spec.model_dump(mode="json")
    done: list[str] = []
    for ref in spec.refs():
        was = before.versions.get(ref)
        if was is None or get_version(store, ref).version == was:
            continue
        parsed = Ref.parse(ref, "model")
        if parsed.selector is not None and parsed.version is None:  # an alias
            set_alias(store, f"{parsed.name}@{was}", parsed.selector, by=ACTOR)
            done.append(f"{ref} moved back to version {was}")
        else:  # the latest version: pin the one served before
            pinned = _replace_ref(pinned, ref, f"{parsed.name}@{was}")
            done.append(f"{ref} pinned to {parsed.name}@{was}")
    if not done:
        return None
    if pinned != spec.model_dump(mode="json"):
        save_deployment(store, DeploymentSpec.model_validate(pinned), name=name, by=ACTOR)
    return "; ".join(done)


def _replace_ref(data: Any, old: str, new: str) -> Any:
    if isinstance(data, dict):
        return {k: _replace_ref(v, old, new) for k, v in data.items()}
    if isinstance(data, list):
        return [_replace_ref(v, old, new) for v in data]
    return new if data == old else data


def served_now(info: DeploymentInfo, resolved: Resolved) -> Served:
    spec = info.spec
    refs: list[tuple[str | None, ModelVersionInfo | None]] = [
        (spec.model, resolved.primary),
        (spec.canary.model if spec.canary else None, resolved.canary),
        (spec.shadow, resolved.shadow),
        *zip(spec.ensemble.members if spec.ensemble else [], resolved.members, strict=True),
    ]
    return Served(info, {ref: v.version for ref, v in refs if ref is not None and v is not None})


class Rollouts:
    """The model manager's memory of what each deployment served, and the reverts it starts: a failing
    load reverts at once; a new version is watched over its first requests. `resync` makes the server
    serve what the store says after a revert."""

    def __init__(self, store: Store, resync: Callable[[], Awaitable[None]]) -> None:
        self.store = store
        self._resync = resync
        self._served: dict[str, Served] = {}
        self._reverted: set[tuple[object, ...]] = set()  # what was taken back (Served.key): never again
        self._tasks: set[asyncio.Task[None]] = set()

    def swapped(self, now: Served) -> Served | None:
        """`now` is served from here on; returns what was served before (None: nothing)."""
        previous = self._served.get(now.info.name)
        self._served[now.info.name] = now
        return previous

    def watch(self, before: Served | None, now: Served) -> RolloutWatch | None:
        """A watch over a new version's first requests, when there is a version to go back to."""
        if before is None or before.key in self._reverted or now.info.spec.rollout.check_requests == 0:
            return None
        return RolloutWatch(now.info.spec.rollout, lambda reason: self._start(before, now, reason))

    def load_failed(self, failing: Served, reason: str) -> None:
        """`failing` could not be loaded: go back to what is served, unless that was taken back itself."""
        before = self._served.get(failing.info.name)
        if before is not None and before.key not in self._reverted:
            self._start(before, failing, f"it did not load: {reason}")

    def forget(self, name: str) -> None:
        self._served.pop(name, None)

    def _start(self, before: Served, failing: Served, reason: str) -> None:
        if failing.key in self._reverted:
            return
        self._reverted.add(failing.key)
        task = asyncio.get_running_loop().create_task(self._revert(before, failing.info, reason))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _revert(self, before: Served, failing: DeploymentInfo, reason: str) -> None:
        try:
            done = await asyncio.to_thread(revert, self.store, before, failing, reason)
        except Exception:  # the store refused (e.g. the old version was deleted since): keep serving
            log.exception("reverting deployment %s failed", failing.name)
            return
        if done is None:
            return
        log.warning("deployment %s reverted (%s): %s", failing.name, reason, done)
        await self._resync()

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
