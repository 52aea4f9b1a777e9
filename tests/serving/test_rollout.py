"""A new version that fails is taken back: one that does not load, or whose first requests fail beyond the
allowed share. The store goes back to what was served (the previous spec, or the alias moved back), with
a `deployment.reverted` audit entry that is also an event; the previous version answers again."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from modelplane.errors import ModelplaneError
from modelplane.events.stream import read_events
from modelplane.local import Local
from modelplane.registry.registry import NewVersion, register
from modelplane.runtimes.adapters import ADAPTERS
from modelplane.security import audit
from modelplane.security.principal import Principal
from modelplane.serving.manager import ModelManager
from modelplane.serving.types import InferRequest
from tests.serving.test_manager import manager_for

ROWS = np.random.default_rng(3).uniform(1, 7, (4, 4)).astype(np.float32)


@pytest.fixture
def failing(trained: Local, monkeypatch: pytest.MonkeyPatch) -> Iterator[Local]:
    monkeypatch.setitem(ADAPTERS, "broken", "tests.serving.failing_runtimes:BROKEN")
    monkeypatch.setitem(ADAPTERS, "flaky", "tests.serving.failing_runtimes:FLAKY")
    yield trained
    for info in trained.deployments.list():
        trained.deployments.undeploy(info.name)
    trained.models.alias("iris-mlp@1", "production")


def reverted(local: Local, name: str) -> list[dict[str, str]]:
    return [e.details for e in audit.log(local.store, action="deployment.reverted") if e.target == name]


async def served(manager: ModelManager, name: str) -> tuple[str, str]:
    result = await manager.infer(InferRequest(name, None, {"input": ROWS}))
    return result.version, manager.model_metadata(name, None).platform


async def until_reverted(manager: ModelManager, local: Local, name: str) -> None:
    for _ in range(200):
        if reverted(local, name) and manager.deployments()[name].meta.platform != "flaky":
            return
        await asyncio.sleep(0.05)
    raise AssertionError("no revert")


def test_a_version_that_does_not_load_is_reverted_to_the_previous_spec(failing: Local) -> None:
    failing.deploy({"model": "iris-mlp@1"}, name="guarded")

    async def scenario() -> None:
        manager = manager_for(failing)
        await manager.start()
        try:
            failing.deploy({"model": "iris-mlp@2", "runtime": "broken"}, name="guarded")
            with pytest.raises(ModelplaneError):
                await manager._reconcile(failing.deployments.get("guarded"))
            await asyncio.sleep(0)  # the revert runs as a task
            for _ in range(100):
                if reverted(failing, "guarded"):
                    break
                await asyncio.sleep(0.05)
            await manager.sync()
            assert await served(manager, "guarded") == ("1", "onnxruntime_onnx")
        finally:
            await manager.stop()

    asyncio.run(scenario())
    info = failing.deployments.get("guarded")
    assert info.spec.model == "iris-mlp@1" and info.spec.runtime is None and info.generation == 3
    [entry] = reverted(failing, "guarded")
    assert "did not load" in entry["reason"] and "corrupt graph" in entry["reason"]
    assert "restored" in entry["done"]
    events = read_events(failing.store, Principal.local("root"), types=("deployment.reverted",))[0]
    assert [(e.type, e.target, e.actor) for e in events] == [("deployment.reverted", "guarded", "rollout")]


def test_a_version_whose_first_requests_fail_is_reverted(failing: Local) -> None:
    failing.deploy({"model": "iris-mlp@1"}, name="flaky")

    async def scenario() -> None:
        manager = manager_for(failing)
        await manager.start()
        try:
            failing.deploy(
                {
                    "model": "iris-mlp@production",
                    "runtime": "flaky",
                    "rollout": {"check_requests": 10, "max_error_share": 0.2},
                },
                name="flaky",
            )
            await manager.sync()
            assert manager.model_metadata("flaky", None).platform == "flaky"
            for _ in range(3):  # 2 of 10 may fail; the third failure takes it back at once
                with pytest.raises(ModelplaneError, match="fails on real data"):
                    await manager.infer(InferRequest("flaky", None, {"input": ROWS}))
            await until_reverted(manager, failing, "flaky")
            assert (await served(manager, "flaky"))[1] == "onnxruntime_onnx"
        finally:
            await manager.stop()

    asyncio.run(scenario())
    [entry] = reverted(failing, "flaky")
    assert entry["reason"] == "3 of its first 3 requests failed (more than 2 of 10 allowed)"
    assert failing.deployments.get("flaky").spec.runtime is None


def test_an_alias_moved_to_a_version_that_does_not_load_is_moved_back(failing: Local, tmp_path: Path) -> None:
    good = failing.models.version("iris-mlp@1")
    weights = tmp_path / "garbage.safetensors"
    weights.write_bytes(b"not safetensors")
    new = NewVersion(
        "iris-mlp", "classification", "torch", "mlp", dict(good.spec), weights, {}, {}, classes=good.classes
    )
    bad = register(failing.store, new).ref
    failing.deploy({"model": "iris-mlp@production"}, name="moved")

    async def scenario() -> None:
        manager = manager_for(failing)
        await manager.start()
        try:
            failing.models.alias(bad, "production")
            await manager.sync()  # logs the failure and keeps serving version 1
            for _ in range(100):
                if reverted(failing, "moved"):
                    break
                await asyncio.sleep(0.05)
            assert (await served(manager, "moved"))[0] == "1"
        finally:
            await manager.stop()

    try:
        asyncio.run(scenario())
        assert failing.models.version("iris-mlp@production").version == 1
        [entry] = reverted(failing, "moved")
        assert entry["done"] == "iris-mlp@production moved back to version 1"
        assert failing.deployments.get("moved").generation == 1  # the spec was never touched
    finally:
        failing.models.delete(bad)
