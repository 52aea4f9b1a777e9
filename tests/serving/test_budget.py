"""The memory budget over a real store, real models and a real data plane: deployments beyond the budget
are evicted least recently used first (never one with a request in flight), come back on their next
request (one load for many waiting requests), a deployment larger than the budget is refused with both
sizes named, and an eviction really gives the memory back (measured RSS)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import numpy as np
import pytest

from modelplane.errors import Invalid
from modelplane.local import Local
from modelplane.serving.budget import resident_bytes
from modelplane.serving.loaded import LoadedVersion
from modelplane.serving.manager import ModelManager
from modelplane.serving.memory import return_large_blocks
from modelplane.serving.metrics import ServingMetrics
from modelplane.serving.repository import DeploymentRepository
from modelplane.serving.server import BackgroundDataPlane, DataPlane, ServeOptions
from modelplane.serving.types import InferRequest
from tests.serving.managed import with_manager

ROWS = np.random.default_rng(3).uniform(0, 7, (4, 4)).astype(np.float32)
NAMES = [f"m{i}" for i in range(6)]


@pytest.fixture(scope="module")
def wide(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Local]:
    """An iris classifier with two 2048-wide layers (~17 MB of weights), so each load is clearly visible
    in RSS; deployed under six names (six separate loads of it). Blocks of a MB or more are mapped on
    their own, as the data plane sets at start, so freed weights leave RSS when freed."""
    return_large_blocks()
    local = Local(tmp_path_factory.mktemp("budget-home"))
    local.datasets.add("iris", source="builtin:iris")
    local.train(data="iris", model="mlp", spec={"hidden": [2048, 2048]}, train={"epochs": 1})
    for name in NAMES:
        local.deploy({"model": "iris-mlp@1", "batching": {"max_batch_size": 8}}, name=name)
    yield local
    local.close()


@pytest.fixture(scope="module")
def size(wide: Local) -> int:
    """One deployment's measured resident size, from a manager without a budget (the largest of two loads:
    the first load of a process may also pay one-off runtime set-up)."""

    async def main() -> int:
        manager = ModelManager(wide.store, metrics=ServingMetrics(), poll_interval_s=0)
        await manager.start()
        try:
            return max(manager.residency.size(name)[1] or 0 for name in NAMES[:2])
        finally:
            await manager.stop()

    found = asyncio.run(main())
    assert found >= 16 * 2**20  # at least the weights
    return found


def request(model: str, rows: np.ndarray = ROWS) -> InferRequest:
    return InferRequest(model=model, version=None, inputs={"input": rows})


def loaded(manager: ModelManager) -> list[str]:
    return sorted(manager.deployments())


def test_least_recently_used_idle_deployment_goes_first(wide: Local, size: int) -> None:
    async def scenario(manager: ModelManager) -> None:
        # Start-up loads all six in turn; the budget keeps the last two (none was used yet).
        assert loaded(manager) == ["m4", "m5"] and sorted(manager.residency.parked) == NAMES[:4]
        await manager.infer(request("m5"))
        await manager.infer(request("m4"))  # m5 is now the least recently used
        answer = await manager.infer(request("m0"))  # parked: loaded again, evicting m5
        assert answer.outputs["label"].shape == (4,)
        assert loaded(manager) == ["m0", "m4"]
        await manager.infer(request("m1"))  # evicts m4 (m0 was used after it)
        assert loaded(manager) == ["m0", "m1"]
        summary = manager.residency.summary()
        assert summary["accounted_bytes"] <= summary["budget_bytes"]
        # A parked deployment keeps its metadata and answers ready (its next request loads it).
        assert manager.model_metadata("m5", None).name == "m5" and manager.model_ready("m5", None)
        assert "m5" not in manager.deployments()
        repository = DeploymentRepository(manager)
        assert repository.config("m5", None)["max_batch_size"] == 8
        assert repository.statistics("m5", None) == {"model_stats": []}  # none until it loads again
        [entry] = [e for e in await repository.index(True, sizes=True) if e["name"] == "m5"]
        assert entry["state"] == "READY" and "unloaded by the memory budget" in entry["reason"]
        assert entry["loaded"] is False and entry["resident_bytes"] >= 16 * 2**20

    with_manager(wide, scenario, memory_budget_bytes=int(2.6 * size))


def test_a_deployment_with_a_request_in_flight_is_not_evicted(wide: Local, size: int) -> None:
    many = np.random.default_rng(5).uniform(0, 7, (4000, 4)).astype(np.float32)

    async def scenario(manager: ModelManager) -> None:
        await manager.infer(request("m4"))  # m4 least recently used, then m5
        await manager.infer(request("m5"))
        busy = asyncio.ensure_future(manager.infer(request("m4", many)))  # computed 8 rows at a time
        route = manager.deployments()["m4"]
        while not (route.primary and route.primary.batcher.in_flight):
            await asyncio.sleep(0.001)
        await manager.infer(request("m0"))  # room is made from m5, not from the busy m4
        assert loaded(manager) == ["m0", "m4"]
        assert (await busy).outputs["label"].shape == (4000,)

    with_manager(wide, scenario, memory_budget_bytes=int(2.6 * size))


def test_many_requests_for_a_parked_deployment_share_one_load(
    wide: Local, size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    loads: list[str] = []
    real = LoadedVersion.load

    def counted(*args: Any, **kwargs: Any) -> LoadedVersion:
        loads.append(args[1])
        return real(*args, **kwargs)

    async def scenario(manager: ModelManager) -> None:
        monkeypatch.setattr(LoadedVersion, "load", counted)
        answers = await asyncio.gather(*(manager.infer(request("m0")) for _ in range(12)))
        assert len(answers) == 12 and {a.version for a in answers} == {"1"}
        assert loads == ["m0"]

    with_manager(wide, scenario, memory_budget_bytes=int(2.6 * size))


def test_a_budget_smaller_than_a_deployment_is_refused_with_both_sizes(wide: Local, size: int) -> None:
    async def scenario(manager: ModelManager) -> None:
        assert loaded(manager) == []
        problem = manager.problems["m0"]
        assert re.search(r"needs \d+\.\d MiB resident .*more than the memory budget of \d+\.\d MiB", problem)
        assert "raise --memory-budget" in problem
        [entry] = [e for e in await DeploymentRepository(manager).index(False) if e["name"] == "m0"]
        assert entry["state"] == "UNAVAILABLE" and "memory budget" in entry["reason"]
        with pytest.raises(Invalid, match="more than the memory budget"):
            await manager.residency.measure("m0", wide.deployments.get("m0").spec)

    with_manager(wide, scenario, memory_budget_bytes=size // 2)


def test_an_eviction_gives_the_memory_back(wide: Local, size: int) -> None:
    async def scenario(manager: ModelManager) -> None:
        [name] = loaded(manager)
        before = resident_bytes()
        await manager.residency.evict(name)
        fell = before - resident_bytes()
        # Measured here: RSS falls by about the deployment's measured size (the runtime's weights and
        # arenas are unmapped or trimmed); allow for allocator slack and pages touched meanwhile.
        assert fell >= 0.6 * size, f"RSS fell by {fell / 2**20:.1f} MiB of {size / 2**20:.1f} MiB"
        assert loaded(manager) == [] and name in manager.residency.parked

    with_manager(wide, scenario, memory_budget_bytes=int(1.5 * size))


def test_round_robin_over_more_deployments_than_fit_answers_every_request(wide: Local, size: int) -> None:
    budget = int(3.5 * size)
    options = ServeOptions(port=0, grpc_port=None, poll_interval_s=0, memory_budget_bytes=budget)
    metrics = ServingMetrics()
    body = {"inputs": [{"name": "input", "shape": [4, 4], "datatype": "FP32", "data": ROWS.ravel().tolist()}]}
    with BackgroundDataPlane(DataPlane(wide.store, options, metrics)) as running:

        def ask(i: int) -> tuple[int, str]:
            name = NAMES[i % len(NAMES)]
            reply = httpx.post(f"{running.url}/v2/models/{name}/infer", json=body, timeout=30)
            return reply.status_code, reply.text

        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(ask, range(4 * len(NAMES))))
        assert [status for status, _ in answers] == [200] * len(answers), answers
        memory = running.memory()
        assert memory["accounted_bytes"] <= budget and len(memory["loaded"]) <= 3
        assert set(memory["loaded"]) | set(memory["parked"]) == set(NAMES)
        index = httpx.post(f"{running.url}/v2/repository/index", json={"sizes": True}, timeout=10).json()
        sizes = {e["name"]: (e["loaded"], e["resident_bytes"]) for e in index}
        assert all(sizes[n][0] for n in memory["loaded"]) and not any(sizes[n][0] for n in memory["parked"])
        assert all(b >= 16 * 2**20 for _, b in sizes.values())
        text = httpx.get(f"{running.url}/metrics", timeout=10).text
        found = re.search(r"^modelplane_memory_budget_bytes (\S+)$", text, re.MULTILINE)
        assert found is not None and float(found.group(1)) == budget
        assert re.search(r'modelplane_budget_unloads_total\{deployment="m\d"\} [1-9]', text)
