"""A memory budget for the deployments one server holds: measured sizes, accounting and the LRU choice.

Sizes are measured, not guessed from files: a version's resident size is how much this process's resident
memory (RSS, `/proc/self/statm`) grew across its load and warm-up. The manager loads one version at a time
under its sync lock, so the growth is that version's; requests served meanwhile add noise of a few pages.
The growth is floored at the bytes of the file the runtime loads (a load that reuses memory freed by an
earlier eviction can grow RSS by less than it holds). A deployment's size is the sum of its versions'.

Before a load, the manager asks for room: the version's last measured size when it was loaded before,
else its file size times the mean ratio of resident size to file size measured on this server (a runtime
holds about its weights plus what it builds from them, e.g. ONNX Runtime ~2x the graph file; the file size
alone undercounts), floored at its file size; after the load the measured size replaces the estimate. An
estimate is never refused on its own: a version is refused only on a measured size (or its file size).
What `residency` evicts to make room is chosen here: the least recently used deployment with nothing
queued, computing or in preprocessing.
"""

from __future__ import annotations

import gc
import itertools
import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import numpy as np

from modelplane.errors import Invalid
from modelplane.registry.views import weights_format
from modelplane.runtimes.adapters import default_runtime, get_adapter
from modelplane.serving.memory import trim_now

if TYPE_CHECKING:
    from modelplane.registry.views import ModelVersionInfo
    from modelplane.serving.loaded import LoadedVersion
    from modelplane.serving.routing import Route

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def resident_bytes() -> int:
    """This process's resident memory now (one small read of /proc; psutil where there is no /proc)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except OSError:
        import psutil

        return int(psutil.Process().memory_info().rss)


def file_bytes(info: ModelVersionInfo, chosen: str | None) -> int:
    """The size of the artifact the runtime `chosen` (None: the default) loads for `info` (0 if unknown)."""
    try:
        artifact = get_adapter(chosen or default_runtime(info.artifacts)).artifact
        found = info.artifacts.get(artifact or weights_format(info.framework))
    except Invalid:
        return 0
    return found.size if found is not None else 0


def _prime_onnx_runtime() -> None:
    """Import ONNX Runtime and run one tiny session: what the first session of a process sets up for all
    later ones (the library, its environment and kernel registries: tens of MB) is then not counted as the
    size of whichever deployment happened to load first."""
    import onnxruntime
    from onnx import TensorProto, helper

    value = [1]
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "prime",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, value)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, value)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    session.run(None, {"x": np.zeros(1, dtype=np.float32)})


_primed = False


def measured_load(load: Callable[[], LoadedVersion], floor: int) -> LoadedVersion:
    """Run `load` (off the event loop) and record the RSS it added on the version, at least `floor`.
    Freed heap pages are handed back before (a load that reuses them still shows as growth) and after
    (what the load allocated only for a while, e.g. the file's bytes, does not count)."""
    global _primed
    if not _primed:
        _prime_onnx_runtime()
        _primed = True
    trim_now()
    before = resident_bytes()
    version = load()
    trim_now()
    version.resident_bytes = max(resident_bytes() - before, floor)
    return version


def release_memory() -> None:
    """After dropping a runtime: collect the cycles that may hold it, then hand freed heap pages back."""
    gc.collect()
    trim_now()


def route_bytes(route: Route) -> int:
    """A deployment's accounted size: its loaded versions' measured sizes (a version shared by two roles
    counts once)."""
    return sum({id(v): v.resident_bytes for v in route.loaded()}.values())


def text(size: int) -> str:
    """Bytes as a person reads them in an error message or a table."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(size) >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


def version_key(info: ModelVersionInfo, chosen: str | None) -> tuple[str, str]:
    """What a measured size is remembered by: the same version on the same runtime has the same size."""
    return info.ref, chosen or ""


class MemoryBudget:
    """The limit (None: unlimited, sizes are still measured and shown), the sizes measured so far, and the
    order in which deployments were last used."""

    def __init__(self, limit_bytes: int | None) -> None:
        if limit_bytes is not None and limit_bytes <= 0:
            raise Invalid(f"the memory budget must be positive, got {limit_bytes} bytes; e.g. 2GiB")
        self.limit = limit_bytes
        self._measured: dict[tuple[str, str], int] = {}
        self._ratios: dict[tuple[str, str], float] = {}  # measured size / file size, per version
        self._ticks = itertools.count()
        self._used: dict[str, int] = {}

    def touch(self, deployment: str) -> None:
        """A request for `deployment`: it becomes the most recently used."""
        self._used[deployment] = next(self._ticks)

    def forget(self, deployment: str) -> None:
        self._used.pop(deployment, None)

    def remember(self, version: LoadedVersion) -> None:
        key = version_key(version.info, version.chosen)
        self._measured[key] = version.resident_bytes
        floor = file_bytes(version.info, version.chosen)
        if floor:
            self._ratios[key] = version.resident_bytes / floor

    def known(self, info: ModelVersionInfo, chosen: str | None) -> int:
        """The size `info` had when last loaded here (0: never measured)."""
        return self._measured.get(version_key(info, chosen), 0)

    def estimate(self, info: ModelVersionInfo, chosen: str | None) -> int:
        """What loading `info` will likely add (see the module docstring for why)."""
        floor = file_bytes(info, chosen)
        known = self._measured.get(version_key(info, chosen))
        if known is not None:
            return max(known, floor)
        if not self._ratios:
            return floor
        return int(floor * sum(self._ratios.values()) / len(self._ratios))

    def fits(self, accounted: int, need: int) -> bool:
        return self.limit is None or accounted + need <= self.limit

    def too_large(self, deployment: str, size: int, how: str) -> Invalid | None:
        """The refusal for a deployment that could never fit, naming both sizes; None when it can."""
        if self.limit is None or size <= self.limit:
            return None
        return Invalid(
            f"deployment '{deployment}' needs {text(size)} resident ({how}), more than the memory budget "
            f"of {text(self.limit)}; raise --memory-budget or deploy a smaller version"
        )

    def least_recent(self, candidates: Iterable[str], busy: Callable[[str], bool]) -> str | None:
        """The least recently used of `candidates` that is not `busy` (never used counts as oldest)."""
        idle = [name for name in candidates if not busy(name)]
        return min(idle, key=lambda name: self._used.get(name, -1), default=None)


def accounted(routes: dict[str, Route]) -> int:
    """The bytes the loaded deployments hold."""
    return sum(route_bytes(route) for route in routes.values())
