"""The model manager: many deployments in one process, reconciled with the store, hot-swapped safely.

The store says what should be served (deployments + aliases); `sync` makes it so: it loads new versions
beside the old ones, warms them, switches the route in one assignment, then drains and unloads the old.
`unload` takes one deployment out of THIS server until `load` (the repository extension, see
`serving.repository`): the spec stays in the store, other servers keep serving it, and a restart forgets it.
Every load is measured, and under a memory budget idle deployments are evicted and reloaded on their next
request (`serving.residency`).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
from random import random
from time import perf_counter
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import select

from modelplane import __version__
from modelplane.errors import Invalid, ModelplaneError, NotFound
from modelplane.serving.backends import ServeBackend
from modelplane.serving.budget import MemoryBudget
from modelplane.serving.deployments import (
    DeploymentInfo,
    Resolved,
    get_deployment,
    list_deployments,
    resolve,
)
from modelplane.serving.json_numbers import PIECE_ROWS
from modelplane.serving.limits import body_limit
from modelplane.serving.loaded import LoadedVersion
from modelplane.serving.residency import Residency
from modelplane.serving.rollout import Rollouts, served_now
from modelplane.serving.routing import Route
from modelplane.serving.tables import check_values, is_matrix, rows_of
from modelplane.serving.types import DATATYPES, InferRequest, InferResult, ModelMeta, datatype_of
from modelplane.store import Store
from modelplane.store.orm import AuditHead

if TYPE_CHECKING:
    from modelplane.monitoring.log_writer import PredictionLog

log = logging.getLogger(__name__)
_V2_DTYPES = frozenset(DATATYPES.values())
# Ids this server gives the requests it logs that came without one: a per-process random prefix and a
# counter, short, unique across servers and restarts, and cheap to compress in the log.
_ID_PREFIX = secrets.token_hex(4) + "-"
_ID_COUNTER = itertools.count(1)


def new_request_id() -> str:
    return f"{_ID_PREFIX}{next(_ID_COUNTER):x}"


class ModelManager:
    """Implements `InferenceService` for every deployment in the store."""

    def __init__(
        self,
        store: Store,
        *,
        metrics: Any | None = None,
        poll_interval_s: float = 1.0,
        nonfinite: str = "reject",
        prediction_log: PredictionLog | None = None,
        backend: ServeBackend | None = None,
        memory_budget_bytes: int | None = None,
    ) -> None:
        self.store = store
        self.backend = backend or ServeBackend()  # where versions' replicas run (local, or Ray Serve)
        self.metrics = metrics
        self.prediction_log = prediction_log
        self.poll_interval_s = poll_interval_s
        self.nonfinite = nonfinite
        self._routes: dict[str, Route] = {}
        self._fingerprint: int | None = None
        self._sync_lock = asyncio.Lock()
        self._poller: asyncio.Task[None] | None = None
        self._ready = False
        self.unloaded: set[str] = set()  # deployments `unload` took off this server; syncs leave them off
        self.problems: dict[str, str] = {}  # deployment -> why its last (re)load failed
        self.rollouts = Rollouts(store, self.sync)
        # measured sizes, and the budget's evictions and reloads (serving.residency)
        self.residency = Residency(self, MemoryBudget(memory_budget_bytes), metrics)

    # lifecycle -----------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Load every stored deployment, then follow the store for changes."""
        await self.sync(force=True)
        self._ready = True
        if self.poll_interval_s > 0:
            self._poller = asyncio.create_task(self._poll())

    async def stop(self) -> None:
        self._ready = False
        await self.rollouts.stop()
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
        routes, self._routes = list(self._routes.values()), {}
        await asyncio.gather(*(v.retire() for r in routes for v in r.loaded()))

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval_s)
            try:
                await self.sync()
            except Exception:  # the poller must survive a bad row or a transient DB error
                log.exception("syncing deployments from the store failed; serving what is loaded")

    def _store_fingerprint(self) -> int:
        """The audit ledger's newest entry: every change that alters what is served (a deployment saved or
        deleted, an alias moved, a version registered or deleted) appends one in its own transaction, and
        entries are numbered in commit order (appenders queue on the ledger's head row), so a server that
        sees the same number has seen every change another server made. (Row counts and newest timestamps
        are not enough: two servers' commits can land in the other order than their clocks read.)"""
        with self.store.db.session() as session:
            return int(session.scalar(select(AuditHead.seq).where(AuditHead.id == 1)) or 0)

    async def sync(self, *, force: bool = False) -> None:
        """Reconcile loaded routes with the store (cheap when nothing changed)."""
        async with self._sync_lock:
            fingerprint = await asyncio.to_thread(self._store_fingerprint)
            if fingerprint == self._fingerprint and not force:
                return
            deployments = await asyncio.to_thread(list_deployments, self.store)
            names = {d.name for d in deployments}
            self.unloaded &= names  # a deployment deleted and saved again is served again
            for info in deployments:
                if info.name in self.unloaded or info.name in self.residency.parked:
                    continue
                try:
                    await self._reconcile(info)
                except ModelplaneError as exc:
                    log.error(
                        "deployment %s cannot be (re)loaded: %s; keeping what is served", info.name, exc
                    )
            for name in set(self._routes) - (names - self.unloaded):
                await self._retire(self._routes.pop(name))
                self.rollouts.forget(name)
                self.residency.gone(name)
            self.residency.prune(names)
            for name in set(self.problems) - names:
                del self.problems[name]
            # one the budget had no room for is tried again at the next poll
            self._fingerprint = None if self.residency.short_of_room else fingerprint

    async def _reconcile(self, info: DeploymentInfo) -> None:
        """Serve what `info` points at now (nothing to do when it is already served); a failure is kept
        in `problems` for the repository index and raised."""
        try:
            resolved = await asyncio.to_thread(resolve, self.store, info.spec)
            key = (resolved.key(), info.spec.model_dump_json())
            current = self._routes.get(info.name)
            if current is None or current.key != key:
                try:
                    await self._swap(info, resolved, key)
                except Exception as exc:  # a version that does not load or warm up is taken back
                    failure = exc if isinstance(exc, ModelplaneError) else _load_error(exc)
                    self.rollouts.load_failed(served_now(info, resolved), str(failure))
                    raise failure from exc
        except ModelplaneError as exc:
            self.problems[info.name] = str(exc)
            raise
        self.problems.pop(info.name, None)

    async def load(self, name: str, *, parked_only: bool = False) -> None:
        """Serve the stored deployment `name` on this server now (again, after `unload`); NotFound when no
        deployment has that name, and the load's own error when its versions cannot be loaded.
        `parked_only`: only if the memory budget evicted it (not after an `unload` that came first)."""
        async with self._sync_lock:
            if parked_only and name not in self.residency.parked:
                return
            info = await asyncio.to_thread(get_deployment, self.store, name)
            self.unloaded.discard(name)
            await self._reconcile(info)

    async def unload(self, name: str) -> None:
        """Stop serving `name` on this server (queued requests are answered first) until `load`; NotFound
        when it is neither served here nor stored."""
        async with self._sync_lock:
            if name not in self._routes:
                await asyncio.to_thread(get_deployment, self.store, name)
            self.unloaded.add(name)
            self.residency.gone(name)
            route = self._routes.pop(name, None)
            if route is not None:
                await self._retire(route)

    @property
    def sync_lock(self) -> asyncio.Lock:
        """Held while deployments load: RSS growth in it is attributable to the load."""
        return self._sync_lock

    def take(self, name: str) -> Route:
        """Take `name`'s route out: requests from here on no longer reach it (the budget's eviction)."""
        return self._routes.pop(name)

    async def _swap(self, info: DeploymentInfo, resolved: Resolved, key: tuple[object, ...]) -> None:
        old = self._routes.get(info.name)
        spec = info.spec
        reusable = {(v.info.ref, v.batching, v.chosen, v.scaling): v for v in old.loaded()} if old else {}
        # A new version starts with as many replicas as the one it replaces runs now: capacity holds.
        replicas = (
            max((v.replicas for v in (old.primary, *old.members) if v is not None), default=0) if old else 0
        )
        loaded: dict[str, LoadedVersion] = {}
        fresh: list[LoadedVersion] = []
        pending = 0  # what this swap loaded so far, not yet in any route
        try:
            for ref, version in resolved.versions().items():
                found = reusable.get((ref, spec.batching, spec.runtime, spec.scaling))
                if found is None:
                    found = await self.residency.load_version(info.name, version, spec, pending, replicas)
                    fresh.append(found)
                    pending += found.resident_bytes
                loaded[ref] = found
        except BaseException:  # what did load goes again: no replica process is left behind
            await asyncio.gather(*(v.retire() for v in fresh), return_exceptions=True)
            raise
        route = self._route(info, resolved, loaded, key)
        await self.residency.check_fits(route, old)
        now = served_now(info, resolved)
        before = self.rollouts.swapped(now)
        for started in fresh:
            started.watch = self.rollouts.watch(before, now)
        if self.prediction_log is not None:
            self.prediction_log.configure(info.name, spec.monitoring)
        self._routes[info.name] = route  # the switch: requests from here on use the new route
        self.residency.serving(route)
        for started in fresh:
            await started.begin()
        log.info("deployment %s now serves %s", info.name, ", ".join(sorted(loaded)))
        if old is not None:
            keep = {id(v) for v in route.loaded()}
            await self._retire(old, keep=keep)

    async def _retire(self, route: Route, keep: set[int] | None = None) -> None:
        for version in route.loaded():
            if keep is None or id(version) not in keep:
                await version.retire()
                if self.metrics is not None:
                    self.metrics.forget(route.name, version.version)

    @staticmethod
    def _route(
        info: DeploymentInfo, resolved: Resolved, loaded: dict[str, LoadedVersion], key: tuple[object, ...]
    ) -> Route:
        spec = info.spec
        pick = {ref: loaded[ref] for ref in loaded}
        primary = pick[resolved.primary.ref] if resolved.primary else None
        canary = pick[resolved.canary.ref] if resolved.canary else None
        members = [pick[m.ref] for m in resolved.members]
        first = (primary or members[0]).info
        versions = [str(info.generation)] if members else [v.version for v in (primary, canary) if v]
        sample = primary or members[0]
        every = list(loaded.values())
        limits = spec.limits
        named = sample.table is not None
        meta = ModelMeta(
            name=info.name,
            versions=tuple(dict.fromkeys(versions)),
            platform="ensemble" if members else sample.platform,
            inputs=sample.inputs,
            outputs=sample.outputs,
            parameters=_meta_parameters(sample),
            takes_missing=sample.table is not None and all(v.takes_rows for v in every),
            max_rows=limits.max_request_rows,
            max_body_bytes=limits.max_body_bytes or body_limit(sample.inputs, named, limits.max_request_rows),
        )
        ensemble = spec.ensemble
        return Route(
            name=info.name,
            key=key,
            meta=meta,
            task=first.task,
            primary=primary,
            canary=canary,
            canary_percent=spec.canary.percent if spec.canary else 0.0,
            shadow=pick[resolved.shadow.ref] if resolved.shadow else None,
            members=members,
            combine=ensemble.combine if ensemble else "mean",
            weights=(ensemble.weights or [1.0] * len(members)) if ensemble else [],
            version=str(info.generation),
            table=sample.table,
            column_names=frozenset(sample.table.names if sample.table else ()),
            takes_rows=any(v.takes_rows for v in every),
            class_names=sample.class_names,
            log_sample=spec.monitoring.log_sample,
            log_classes=tuple(sample.class_names.tolist()) if sample.class_names is not None else (),
        )

    # InferenceService ----------------------------------------------------------------------------------
    def server_live(self) -> bool:
        return True

    def server_ready(self) -> bool:
        return self._ready

    def server_metadata(self) -> dict[str, Any]:
        return {"name": "modelplane", "version": __version__, "extensions": ["binary_tensor_data"]}

    def _get(self, model: str) -> Route:
        route = self._routes.get(model)
        if route is None and model in self.residency.parked:
            return self.residency.parked[model].shell  # metadata only: infer loads it again first
        if route is None:
            if model in self.unloaded:
                raise NotFound(
                    f"model '{model}' is unloaded on this server; load it again with "
                    f"POST /v2/repository/models/{model}/load (or the gRPC RepositoryModelLoad)"
                )
            raise NotFound(
                f"model '{model}' is not deployed; deployed: {', '.join(sorted(self._routes)) or 'none'}"
            )
        return route

    def _check_version(self, route: Route, version: str | None) -> None:
        if version and version not in route.meta.versions:
            raise NotFound(
                f"model '{route.name}' has no version {version} deployed; deployed versions: "
                f"{', '.join(route.meta.versions)}"
            )

    def model_ready(self, model: str, version: str | None) -> bool:
        self._check_version(self._get(model), version)
        return True

    def model_metadata(self, model: str, version: str | None) -> ModelMeta:
        route = self._get(model)
        self._check_version(route, version)
        return route.meta

    def check_room(self, model: str, version: str | None) -> None:
        self._get(model).check_room()

    def deployments(self) -> dict[str, Route]:
        return dict(self._routes)

    def route(self, model: str) -> Route:
        """The route of `model` (versionless when the budget parked it); NotFound saying why not."""
        return self._get(model)

    def _features(self, route: Route, request: InferRequest) -> tuple[np.ndarray, list[str]]:
        """The batch a request stands for (a float matrix, or structured rows for a deployment with
        preprocessing), and the columns it sent that the model does not read."""
        table = route.table
        if table is None or is_matrix(route.column_names, request.inputs):
            return self._matrix(route, request), []
        strict = request.parameters.get("strict") is True
        rows, ignored = rows_of(table, request.inputs, strict=strict)
        if not len(rows):
            raise Invalid("the request has no rows; send at least one value per column")
        check_values(table, rows, missing=route.meta.takes_missing, nonfinite=self.nonfinite)
        return rows, ignored

    def _matrix(self, route: Route, request: InferRequest) -> np.ndarray:
        """The single `input` tensor: (N, *input_shape) as float32, or, for a deployment that reads rows,
        (N, columns) in training order as rows (refused, with the fix, when some column is text)."""
        expected = (route.primary or route.members[0]).input
        if len(request.inputs) != 1 or expected.name not in request.inputs:
            raise Invalid(
                f"model '{route.name}' takes one input named '{expected.name}' "
                f"(shape {list(expected.shape)}); got {sorted(request.inputs) or 'none'}"
            )
        x = request.inputs[expected.name]
        if x.dtype != DATATYPES[expected.datatype]:  # as Triton: no silent conversion of another type
            got = datatype_of(x) if x.dtype in _V2_DTYPES else str(x.dtype)
            raise Invalid(
                f"input '{expected.name}' is {expected.datatype}, got {got}; send datatype "
                f"{expected.datatype} (see GET /v2/models/{route.name})"
            )
        if route.takes_rows:
            assert route.table is not None
            rows = route.table.rows_from_matrix(x)
            check_values(route.table, rows, missing=route.meta.takes_missing, nonfinite=self.nonfinite)
            return rows
        want = list(expected.shape[1:])
        if x.ndim != len(expected.shape) or list(x.shape[1:]) != want or len(x) == 0:
            raise Invalid(
                f"input '{expected.name}' must have shape [N, {', '.join(map(str, want))}] (N >= 1 rows); "
                f"got {list(x.shape)}"
            )
        if self.nonfinite == "reject" and not np.isfinite(x).all():
            raise Invalid(f"input '{expected.name}' holds NaN or Inf; send finite numbers")
        return x

    async def infer(self, request: InferRequest) -> InferResult:
        name = request.model
        route = self._routes.get(name)
        if self.residency.budget.limit is None:  # nothing is ever evicted: no need to count who is in
            return await self._answer(route or self._get(name), request)
        while route is None:  # parked by the budget (again, if evicted before this request could enter)
            await self.residency.revive(name)
            route = self._routes.get(name)
        self.residency.enter(name)  # no await since the lookup: the budget cannot evict it in between
        try:
            return await self._answer(route, request)
        finally:
            self.residency.leave(name)

    async def _answer(self, route: Route, request: InferRequest) -> InferResult:
        sample = route.log_sample if self.prediction_log is not None else 0.0
        started = perf_counter() if sample else 0.0
        self._check_version(route, request.version)
        first = next(iter(request.inputs.values()), None)
        if first is not None and first.ndim and len(first) > PIECE_ROWS:  # checks of many rows: off the loop
            x, ignored = await asyncio.to_thread(self._features, route, request)
        else:
            x, ignored = self._features(route, request)
        known = [t.name for t in route.meta.outputs]
        names = request.outputs or known
        missing = [n for n in names if n not in known]
        if missing:
            raise Invalid(f"model '{route.name}' has no output '{missing[0]}'; outputs: {', '.join(known)}")
        version, outputs = await route.infer(x, request.id, request.version)
        if "label" in outputs and route.class_names is not None:
            outputs["label"] = route.class_names.take(outputs["label"])
        answer = {n: outputs[n] for n in names}
        request_id = request.id
        if sample and (sample >= 1.0 or random() < sample):
            if request_id is None:
                request_id = new_request_id()
            self.prediction_log.submit(  # type: ignore[union-attr]
                route.name,
                version,
                request_id,
                request.key_id,
                (perf_counter() - started) * 1000,
                200,
                x,
                route.table,
                outputs,
                route.log_classes,
            )
        return InferResult(
            model=route.name,
            version=version,
            outputs=answer,
            id=request_id,
            parameters={"ignored_columns": ignored} if ignored else {},
        )

    def log_failure(
        self, model: str, version: str | None, status: int, latency_ms: float, key_id: str | None
    ) -> None:
        """Log a failed inference request (one row with its status, sampled as answered ones are) of a
        deployment served here that logs; the front ends' accounting calls it for statuses >= 500."""
        route = self._routes.get(model)
        if route is None or self.prediction_log is None:
            return
        sample = route.log_sample
        if not sample or (sample < 1.0 and random() >= sample):
            return
        version = version or route.meta.versions[0]
        self.prediction_log.submit(
            model, version, new_request_id(), key_id, latency_ms, status, None, None, {}, []
        )


def _load_error(exc: Exception) -> Invalid:
    """A runtime's own load error (ONNX Runtime's, safetensors') as the typed error the repository shows."""
    return Invalid(f"a version could not be loaded: {type(exc).__name__}: {exc}")


def _meta_parameters(sample: LoadedVersion) -> dict[str, Any]:
    """What V2 metadata has no field for: the class names `label` holds (in `probabilities` order) and the
    columns the model reads, with their roles."""
    parameters: dict[str, Any] = {}
    if sample.class_names is not None:
        parameters["classes"] = sample.class_names.tolist()
    if sample.table is not None:
        parameters["columns"] = [column.to_dict() for column in sample.table.columns]
    return parameters
