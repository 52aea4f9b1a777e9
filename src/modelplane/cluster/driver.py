"""A job's work on a Ray cluster, in a detached driver actor that outlives the worker that started it.

The worker's job process (jobs/executor.py) stays the job's owner: it holds the lease, records progress
and notices cancels. The work itself (a Ray Train fit, a Ray Tune search, a Ray Data pass) runs in a
thread of a named, detached actor, `modelplane/job-<id>`. A worker that dies and restarts finds that
actor by name and re-attaches to it, reading its events from the start; if the actor is gone (its node
died), the next attempt starts a new one, which resumes from the job's own checkpoints in the store.

The actor opens the store itself (`Store.from_handover`): on a cluster, every node must reach the
database and the artifact root (PostgreSQL and a shared folder), as every worker of `modelplane worker`
must. It also reads the job's row, so an actor whose job was cancelled or ended while no worker watched
stops on its own instead of running forever.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from modelplane.cluster.connect import NAMESPACE, connect
from modelplane.errors import ModelplaneError
from modelplane.jobs.context import JobCancelled, JobContext
from modelplane.jobs.lease import LeaseLost

log = logging.getLogger(__name__)

_POLL_S = 0.5
_CHECK_S = 2.0
_RESTARTS = 2  # new drivers started for one attempt after the previous one died with its node
_GRACE_S = 10.0  # an actor whose job ended waits this long for its thread, then exits anyway

# target(payload, store, channel) -> a JSON-able result; named "module:function" so the actor imports it.
Target = Callable[..., Any]


class ClusterJobFailed(ModelplaneError):
    """The work failed on the cluster; the message is its one-line reason."""

    status_code = 500
    exit_code = 1


class Channel:
    """What the work sees of its driver: events for the worker to read, and whether to stop."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.remembered: dict[str, Any] = {}
        self._cancelled = threading.Event()
        self._lock = threading.Lock()

    def emit(self, event: dict[str, Any]) -> None:
        """Queue `event` for the worker, which gets every event once per attempt, in order."""
        with self._lock:
            self.events.append(dict(event))

    def remember(self, key: str, value: Any) -> None:
        """An id the job's row should record (a Ray Train run, trial ids): the worker copies it there."""
        with self._lock:
            self.remembered[key] = value

    def since(self, seen: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """The events after the first `seen`, and the ids remembered so far, read together."""
        with self._lock:
            return self.events[seen:], dict(self.remembered)

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def raise_if_cancelled(self) -> None:
        if self._cancelled.is_set():
            raise JobCancelled

    def cancel(self) -> None:
        self._cancelled.set()


class _Driver:
    """The actor's body (made an actor class by `_actor_class`: importing this module imports no Ray)."""

    def __init__(self, target: str, payload: dict[str, Any], store: dict[str, Any], job_id: str) -> None:
        self.target, self.payload, self.handover, self.job_id = target, payload, store, job_id
        self.channel = Channel()
        self.state, self.result, self.error = "created", None, ""
        self.ended = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> str:
        """Start the work once; later calls (a re-attached worker) leave it running."""
        with self._lock:
            if self._thread is None:
                self.state = "running"
                self._thread = threading.Thread(target=self._work, name=f"job-{self.job_id}", daemon=True)
                self._thread.start()
                threading.Thread(target=self._watch, name="watch", daemon=True).start()
        return self.state

    def poll(self, seen: int) -> dict[str, Any]:
        # The state first: one that says the work ended then comes with every event the work emitted.
        ended = {"state": self.state, "result": self.result, "error": self.error}
        events, remembered = self.channel.since(seen)
        return {"events": events, "remembered": remembered, **ended}

    def cancel(self) -> None:
        self.channel.cancel()

    def node(self) -> str:
        import ray

        return str(ray.get_runtime_context().get_node_id())

    def _work(self) -> None:
        from modelplane.store import Store

        store = Store.from_handover(self.handover)
        try:
            module, _, name = self.target.partition(":")
            function = getattr(importlib.import_module(module), name)
            self.result = function(self.payload, store, self.channel)
            self.state = "succeeded"
        except JobCancelled:
            self.state = "cancelled"
        except ModelplaneError as exc:
            self.error, self.state = str(exc), "failed"
        except Exception as exc:
            self.error, self.state = f"{type(exc).__name__}: {exc}", "failed"
            log.error("job %s failed on the cluster:\n%s", self.job_id, traceback.format_exc())
        finally:
            store.close()
            self.ended.set()

    def _watch(self) -> None:
        """Stop the work when its job was cancelled or ended without us (no worker left to tell us)."""
        from sqlalchemy import select

        from modelplane.jobs.views import FINISHED
        from modelplane.store import Store
        from modelplane.store.orm import Job

        store = Store.from_handover(self.handover)
        try:
            while not self.ended.wait(_CHECK_S):
                with store.db.session() as session:
                    row = session.execute(
                        select(Job.state, Job.cancel_requested_at).where(Job.id == self.job_id)
                    ).one_or_none()
                if row is None or row.state in FINISHED or row.cancel_requested_at is not None:
                    self.channel.cancel()
                    break
        finally:
            store.close()
        if self.channel.cancelled and not self.ended.wait(_GRACE_S):
            log.warning("job %s: its work did not stop within %gs of its end; exiting", self.job_id, _GRACE_S)
        if self.channel.cancelled:
            import ray

            ray.actor.exit_actor()


def _actor_class() -> Any:
    import ray

    options: dict[str, Any] = {"num_cpus": 0, "max_concurrency": 4, "max_restarts": 0}
    return ray.remote(**options)(_Driver)


def driver_name(job_id: str) -> str:
    return f"job-{job_id}"


def run_on_cluster(
    ctx: JobContext,
    address: str,
    target: str,
    payload: dict[str, Any],
    on_event: Callable[[dict[str, Any]], None],
) -> Any:
    """Run `target` on the cluster for the job `ctx` holds, re-attaching to its driver when one is running,
    and hand each of its events to `on_event` (which records progress and may raise JobCancelled).
    Returns the target's result; raises ClusterJobFailed with its reason when it failed."""
    import ray
    from ray.exceptions import RayActorError

    connect(address)
    name = driver_name(ctx.job_id)
    restarts = 0
    while True:
        actor, attached = _driver(ctx, name, target, payload)
        ray_job = ray.get_runtime_context().get_job_id()
        ctx.remember(
            "ray", {**ctx.checkpoint.get("ray", {}), "address": address, "driver": name, "job": ray_job}
        )
        ctx.log(
            f"{'re-attached to' if attached else 'started'} Ray driver {NAMESPACE}/{name} (Ray job {ray_job})"
        )
        try:
            return _follow(ctx, actor, on_event)
        except RayActorError as exc:
            ctx.check()  # a driver that ended itself because the job was cancelled is not restarted
            restarts += 1
            if restarts > _RESTARTS:
                raise ClusterJobFailed(f"its Ray driver died {restarts} times; last: {exc}") from None
            ctx.log(
                f"its Ray driver died ({type(exc).__name__}); starting a new one from the last checkpoint"
            )
        except (JobCancelled, LeaseLost) as stop:
            if isinstance(stop, JobCancelled):
                _end(actor, cancel=True)
            raise


def _driver(ctx: JobContext, name: str, target: str, payload: dict[str, Any]) -> tuple[Any, bool]:
    import ray

    try:
        actor = ray.get_actor(name, namespace=NAMESPACE)
        attached = True
    except ValueError:
        actor = (
            _actor_class()
            .options(name=name, namespace=NAMESPACE, lifetime="detached", get_if_exists=True)
            .remote(target, payload, ctx.store.handover(), ctx.job_id)
        )
        attached = False
    ray.get(actor.start.remote())
    return actor, attached


def _follow(ctx: JobContext, actor: Any, on_event: Callable[[dict[str, Any]], None]) -> Any:
    import ray

    seen, remembered, checked = 0, None, time.monotonic()
    while True:
        status = ray.get(actor.poll.remote(seen))
        for event in status["events"]:
            on_event(event)
        seen += len(status["events"])
        if status["remembered"] and status["remembered"] != remembered:
            remembered = status["remembered"]
            ctx.remember("ray", {**ctx.checkpoint.get("ray", {}), **remembered})
        if status["state"] == "succeeded":
            _end(actor)
            return status["result"]
        if status["state"] == "cancelled":
            _end(actor)
            raise JobCancelled
        if status["state"] == "failed":
            _end(actor)
            raise ClusterJobFailed(status["error"])
        if time.monotonic() - checked >= _CHECK_S:
            ctx.check()
            checked = time.monotonic()
        time.sleep(_POLL_S)


def _end(actor: Any, *, cancel: bool = False) -> None:
    """End the driver; a cancelled one first gets up to _GRACE_S to stop its work cleanly (Tune ends its
    trials, Train its workers), so that what it leaves behind is recorded as stopped, not as lost."""
    import ray

    try:
        if cancel:
            ray.get(actor.cancel.remote(), timeout=5)
            deadline = time.monotonic() + _GRACE_S
            while ray.get(actor.poll.remote(1 << 62), timeout=5)["state"] == "running":
                if time.monotonic() > deadline:
                    break
                time.sleep(_POLL_S)
        ray.kill(actor, no_restart=True)
    except Exception as exc:  # already gone: nothing left to end
        log.info("Ray driver already ended (%s)", exc)
