"""Triton's model repository, model configuration and statistics extensions, mapped onto deployments.

The repository is the store's deployments: a model name is a deployment name, its versions the model
versions that deployment serves (an ensemble's one version is its generation). Deployments are persistent
specs shared by every server reading the store, while Triton's load and unload act on one server and last
until it restarts, so:

- `unload NAME` takes the deployment off THIS server (queued requests are answered first): it then answers
  not-ready, and infer fails with 404 saying how to load it again. The spec stays; other servers keep
  serving it; this server's store polls leave it off; a restart (or the deployment deleted and saved
  again) serves it again. To stop serving it everywhere, `modelplane deployments undeploy NAME`.
- `load NAME` serves the saved deployment on this server now (again after an unload, or at once instead of
  at the next poll). A name with no deployment is 404 naming `modelplane deploy`: a registered model is not
  deployed implicitly, because a deployment's batching, limits and runtime are choices the deployer makes.
  Triton's load overrides (`config`, `file:...` parameters) are refused; change a deployment by saving it.
- `index` lists every saved deployment: one READY entry per version served here, else UNAVAILABLE (unloaded
  here, or failed to load, with the reason) or LOADING (saved, not yet picked up by this server). One the
  memory budget unloaded is READY (its next request loads it) with that reason; `"sizes": true` in the
  request (modelplane's extension) adds `loaded` and `resident_bytes` to each entry.

Both load and unload are audited (`deployment.loaded` / `deployment.unloaded`, with this server's host).
"""

from __future__ import annotations

import asyncio
import platform
from collections.abc import Mapping
from typing import Any

from modelplane.errors import Invalid, NotFound
from modelplane.security import audit
from modelplane.serving.deployments import DeploymentInfo, get_deployment, list_deployments
from modelplane.serving.manager import ModelManager
from modelplane.serving.routing import Route
from modelplane.serving.statistics import VersionStatistics, combined
from modelplane.serving.types import TensorMeta

READY, UNAVAILABLE, LOADING = "READY", "UNAVAILABLE", "LOADING"
_UNSUPPORTED_LOAD = (
    "this server loads deployments as they are saved; a load request cannot carry {what}: change the "
    "deployment with `modelplane deploy` (it reloads on every server), then load it"
)


class DeploymentRepository:
    """Implements `serving.types.ModelRepository` over a `ModelManager`."""

    def __init__(self, manager: ModelManager) -> None:
        self.manager = manager

    async def index(self, ready_only: bool, sizes: bool = False) -> list[dict[str, Any]]:
        """`sizes` (a modelplane extension of the request, off for standard clients) adds `loaded` and
        `resident_bytes` to each entry (see `Residency.size`)."""
        deployments = await asyncio.to_thread(list_deployments, self.manager.store)
        routes = self.manager.deployments()
        entries: list[dict[str, Any]] = []
        for info in deployments:
            for entry in self._entries(info, routes.get(info.name)):
                if not ready_only or entry["state"] == READY:
                    entries.append(entry)
                    if sizes:
                        loaded, size = self.manager.residency.size(info.name)
                        entries[-1] = {**entry, "loaded": loaded, "resident_bytes": size}
        return entries

    def _entries(self, info: DeploymentInfo, route: Route | None) -> list[dict[str, str]]:
        name = info.name
        problem = self.manager.problems.get(name)
        parked = self.manager.residency.parked.get(name)
        if route is None and parked is not None:
            reason = "unloaded by the memory budget; its next request loads it again"
            if problem:
                reason += f" (its last reload failed: {problem})"
            return [_entry(name, version, READY, reason) for version in parked.shell.meta.versions]
        if route is not None:
            reason = (
                f"serving what was loaded before; the saved spec failed to load: {problem}" if problem else ""
            )
            return [_entry(name, version, READY, reason) for version in route.meta.versions]
        if name in self.manager.unloaded:
            reason = f"unloaded on this server; POST /v2/repository/models/{name}/load serves it again"
            return [_entry(name, "", UNAVAILABLE, reason)]
        if problem is not None:
            return [_entry(name, "", UNAVAILABLE, problem)]
        return [_entry(name, "", LOADING, "saved; this server loads it at its next look at the store")]

    async def load(self, name: str, parameters: Mapping[str, Any], by: str) -> None:
        if "config" in parameters:
            raise Invalid(_UNSUPPORTED_LOAD.format(what="a model config"))
        if any(key.startswith("file:") for key in parameters):
            raise Invalid(_UNSUPPORTED_LOAD.format(what="model files"))
        try:
            await asyncio.to_thread(get_deployment, self.manager.store, name)
        except NotFound:
            raise NotFound(
                f"there is no deployment named '{name}' to load; deploy one under that name first: "
                f"`modelplane deploy MODEL@VERSION --name {name}`"
            ) from None
        await self.manager.load(name)  # its versions' own errors (a deleted version, ...) as they are
        await asyncio.to_thread(self._audit, by, "deployment.loaded", name)

    async def unload(self, name: str, parameters: Mapping[str, Any], by: str) -> None:
        """`unload_dependents` needs nothing: an ensemble's members belong to its one deployment."""
        try:
            await self.manager.unload(name)
        except NotFound:
            raise NotFound(
                f"there is no deployment named '{name}' to unload; list them with "
                "POST /v2/repository/index or `modelplane deployments list`"
            ) from None
        await asyncio.to_thread(self._audit, by, "deployment.unloaded", name)

    def _audit(self, by: str, action: str, name: str) -> None:
        with self.manager.store.db.session() as session:
            audit.append(session, by, action, name, {"server": platform.node()})

    def config(self, name: str, version: str | None) -> dict[str, Any]:
        """Triton's model configuration: with `max_batch_size` > 0, `dims` leave out the batch dimension
        (a per-row scalar is dims [1] reshaped to [], as Triton writes it)."""
        meta = self.manager.model_metadata(name, version)
        route = self.manager.deployments().get(name)
        if route is not None:
            batching = (route.primary or route.members[0]).batching
        else:  # parked by the memory budget
            batching = self.manager.residency.parked[name].batching
        config: dict[str, Any] = {
            "name": name,
            "platform": meta.platform,
            "version_policy": {"specific": {"versions": [int(v) for v in meta.versions]}},
            "max_batch_size": batching.max_batch_size,
            "input": [_tensor(t) for t in meta.inputs],
            "output": [_tensor(t) for t in meta.outputs],
            "dynamic_batching": {
                "max_queue_delay_microseconds": round(batching.max_queue_delay_ms * 1000),
                "default_queue_policy": {
                    "max_queue_size": batching.max_queue_size,
                    "default_timeout_microseconds": round(batching.timeout_s * 1_000_000),
                },
            },
        }
        return config

    def statistics(self, name: str, version: str | None) -> dict[str, Any]:
        """`{"model_stats": [...]}` for one deployment (one version of it), or every one when `name` is
        empty; see `serving.statistics` for what each figure counts."""
        if name:
            self.manager.model_metadata(name, version)  # NotFound for an unknown name or version
            routes = [self.manager.route(name)]  # a parked one has no statistics until it loads again
        else:
            routes = [route for _, route in sorted(self.manager.deployments().items())]
        stats = []
        for route in routes:
            for served, figures in _figures(route).items():
                if not version or served == version:
                    stats.append(figures.to_dict(route.name, served))
        return {"model_stats": stats}


def _entry(name: str, version: str, state: str, reason: str) -> dict[str, str]:
    return {"name": name, "version": version, "state": state, "reason": reason}


def _figures(route: Route) -> dict[str, VersionStatistics]:
    """Each served version's statistics (a shadow's are not the deployment's answers)."""
    if route.members:
        return {route.version: combined([m.batcher.statistics for m in route.members])}
    return {v.version: v.batcher.statistics for v in (route.primary, route.canary) if v is not None}


_CONFIG_TYPES = {"BYTES": "TYPE_STRING"}  # Triton's config names BYTES tensors TYPE_STRING


def _tensor(tensor: TensorMeta) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": tensor.name,
        "data_type": _CONFIG_TYPES.get(tensor.datatype, f"TYPE_{tensor.datatype}"),
        "dims": list(tensor.shape[1:]) or [1],
    }
    if len(tensor.shape) == 1:
        entry["reshape"] = {"shape": []}
    return entry
