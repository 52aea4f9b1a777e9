"""The repository, model configuration and statistics extensions over a real store and model manager:
unload is per server and outlives store polls, load serves the saved spec, and what is refused says why."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

import numpy as np
import pytest

from modelplane.errors import DeadlineExceeded, Invalid, ModelplaneError, NotFound
from modelplane.local import Local
from modelplane.security import audit
from modelplane.serving.batcher import DynamicBatcher
from modelplane.serving.manager import ModelManager
from modelplane.serving.metrics import ServingMetrics
from modelplane.serving.repository import DeploymentRepository
from modelplane.serving.types import InferRequest

ROWS = np.random.default_rng(0).uniform(0, 7, (5, 4)).astype(np.float32)


def request(model: str, version: str | None = None) -> InferRequest:
    return InferRequest(model=model, version=version, inputs={"input": ROWS})


def entry(name: str, version: str, state: str, reason: str = "") -> dict[str, str]:
    return {"name": name, "version": version, "state": state, "reason": reason}


Scenario = Callable[[ModelManager, DeploymentRepository], Coroutine[Any, Any, None]]


def run(local: Local, scenario: Scenario) -> None:
    async def main() -> None:
        manager = ModelManager(local.store, metrics=ServingMetrics(), poll_interval_s=0)
        await manager.start()
        try:
            await scenario(manager, DeploymentRepository(manager))
        finally:
            await manager.stop()

    asyncio.run(main())


@pytest.fixture
def clean(trained: Local) -> Any:
    """Each test starts with no deployments and leaves none."""
    yield trained
    for info in trained.deployments.list():
        trained.deployments.undeploy(info.name)


def test_unload_keeps_a_deployment_off_this_server_until_load(clean: Local) -> None:
    clean.deploy({"model": "iris-mlp@1"}, name="iris")

    async def scenario(manager: ModelManager, repo: DeploymentRepository) -> None:
        assert await repo.index(False) == [entry("iris", "1", "READY")]
        await repo.unload("iris", {"unload_dependents": True}, "alice")
        for call in (lambda: manager.model_ready("iris", None), lambda: manager.model_metadata("iris", "1")):
            with pytest.raises(NotFound, match="unloaded on this server; load it again with POST"):
                call()
        with pytest.raises(NotFound, match="/v2/repository/models/iris/load"):
            await manager.infer(request("iris"))
        [unloaded] = await repo.index(False)
        assert unloaded["state"] == "UNAVAILABLE" and "unloaded on this server" in unloaded["reason"]
        assert await repo.index(True) == []
        # The spec changes in the store: this server's syncs still leave it off.
        clean.deploy({"model": "iris-mlp@2"}, name="iris")
        await manager.sync()
        assert "iris" not in manager.deployments()
        await repo.load("iris", {}, "alice")
        assert (await manager.infer(request("iris"))).version == "2"
        assert await repo.index(True) == [entry("iris", "2", "READY")]
        recent = [(r.actor, r.action, r.target) for r in audit.log(clean.store, limit=5)]
        assert ("alice", "deployment.unloaded", "iris") in recent
        assert ("alice", "deployment.loaded", "iris") in recent
        # Deleted and saved again, it is served again: an unload does not outlive its deployment.
        await repo.unload("iris", {}, "alice")
        clean.deployments.undeploy("iris")
        await manager.sync()
        clean.deploy({"model": "iris-mlp@1"}, name="iris")
        await manager.sync()
        assert manager.model_ready("iris", "1")

    run(clean, scenario)


def test_load_and_unload_refuse_what_they_cannot_do_and_change_nothing(clean: Local) -> None:
    clean.deploy({"model": "iris-mlp@1"}, name="iris")

    async def scenario(manager: ModelManager, repo: DeploymentRepository) -> None:
        with pytest.raises(NotFound, match=r"no deployment named 'nope' to load.*modelplane deploy"):
            await repo.load("nope", {}, "bob")
        with pytest.raises(NotFound, match="no deployment named 'nope' to unload"):
            await repo.unload("nope", {}, "bob")
        with pytest.raises(Invalid, match="cannot carry a model config: change the deployment"):
            await repo.load("iris", {"config": '{"max_batch_size": 4}'}, "bob")
        with pytest.raises(Invalid, match="cannot carry model files"):
            await repo.load("iris", {"file:1/model.onnx": b"x"}, "bob")
        assert await repo.index(False) == [entry("iris", "1", "READY")]
        assert [r.action for r in audit.log(clean.store, limit=1)] == ["deployment.saved"]

    run(clean, scenario)


def test_index_says_why_a_deployment_is_not_served(clean: Local, monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario(manager: ModelManager, repo: DeploymentRepository) -> None:
        clean.deploy({"model": "iris-mlp@1"}, name="late")  # saved after this server's last look
        [waiting] = await repo.index(False)
        assert waiting["state"] == "LOADING" and "next look at the store" in waiting["reason"]
        with monkeypatch.context() as patched:
            patched.setattr(
                "modelplane.serving.manager.LoadedVersion.load",
                lambda *args: (_ for _ in ()).throw(ModelplaneError("the runtime would not start")),
            )
            with pytest.raises(ModelplaneError, match="would not start"):
                await repo.load("late", {}, "carol")
            failed = entry("late", "", "UNAVAILABLE", "the runtime would not start")
            assert await repo.index(False) == [failed]
        await repo.load("late", {}, "carol")  # now it loads: the problem is gone with it
        assert await repo.index(False) == [entry("late", "1", "READY")]

    run(clean, scenario)


def test_model_config_describes_the_deployment(clean: Local) -> None:
    batching = {"max_batch_size": 8, "max_queue_delay_ms": 1.5, "max_queue_size": 100, "timeout_s": 5}
    clean.deploy(
        {"model": "iris-mlp@1", "canary": {"model": "iris-mlp@2", "percent": 30}, "batching": batching},
        name="cfg",
    )
    clean.deploy({"model": "diabetes-mlp@1"}, name="reg")
    clean.deploy({"ensemble": {"members": ["iris-mlp@1", "iris-logreg@1"]}}, name="ens")

    async def scenario(manager: ModelManager, repo: DeploymentRepository) -> None:
        config = repo.config("cfg", None)
        column = {"data_type": "TYPE_FP32", "dims": [1]}
        assert config == {
            "name": "cfg",
            "platform": manager.model_metadata("cfg", None).platform,
            "version_policy": {"specific": {"versions": [1, 2]}},
            "max_batch_size": 8,
            "input": [{"name": t.name, **column} for t in manager.model_metadata("cfg", None).inputs],
            "output": [
                {"name": "label", "data_type": "TYPE_STRING", "dims": [1], "reshape": {"shape": []}},
                {"name": "probabilities", "data_type": "TYPE_FP32", "dims": [3]},
            ],
            "dynamic_batching": {
                "max_queue_delay_microseconds": 1500,
                "default_queue_policy": {"max_queue_size": 100, "default_timeout_microseconds": 5_000_000},
            },
        }
        assert config["platform"] == "onnxruntime_onnx"
        assert repo.config("cfg", "2")["name"] == "cfg"
        assert repo.config("reg", None)["output"] == [
            {"name": "prediction", "data_type": "TYPE_FP32", "dims": [1]}
        ]
        ensemble = repo.config("ens", None)
        assert ensemble["platform"] == "ensemble" and ensemble["max_batch_size"] == 64
        with pytest.raises(NotFound, match="no version 3"):
            repo.config("cfg", "3")
        with pytest.raises(NotFound, match="'nope' is not deployed"):
            repo.config("nope", None)

    run(clean, scenario)


def test_statistics_count_each_version_and_ensembles_once_per_request(clean: Local) -> None:
    clean.deploy({"model": "iris-mlp@1", "canary": {"model": "iris-mlp@2", "percent": 30}}, name="cfg")
    clean.deploy({"ensemble": {"members": ["iris-mlp@1", "iris-logreg@1"]}}, name="ens")

    async def scenario(manager: ModelManager, repo: DeploymentRepository) -> None:
        before = repo.statistics("cfg", None)["model_stats"]
        assert [(s["version"], s["inference_count"], s["last_inference"]) for s in before] == [
            ("1", 0, 0),
            ("2", 0, 0),
        ]
        started = time.time() * 1000
        await asyncio.gather(*(manager.infer(request("cfg", "1")) for _ in range(3)))
        await manager.infer(request("cfg", "2"))
        await asyncio.gather(*(manager.infer(request("ens")) for _ in range(2)))
        first, second = repo.statistics("cfg", None)["model_stats"]
        assert first["name"] == "cfg" and first["version"] == "1"
        assert first["inference_count"] == 15 and 1 <= first["execution_count"] <= 3
        phases = first["inference_stats"]
        assert phases["success"]["count"] == phases["queue"]["count"] == 3 and phases["fail"]["count"] == 0
        assert phases["compute_infer"]["count"] == first["execution_count"]
        assert phases["success"]["ns"] >= phases["compute_infer"]["ns"] > 0
        assert started <= first["last_inference"] <= time.time() * 1000
        assert (second["inference_count"], second["inference_stats"]["success"]["count"]) == (5, 1)
        assert repo.statistics("cfg", "2")["model_stats"] == [second]
        [ensemble] = repo.statistics("ens", None)["model_stats"]
        assert ensemble["inference_stats"]["success"]["count"] == 2 and ensemble["inference_count"] == 10
        assert ensemble["execution_count"] >= 2  # each member computes every request
        everything = repo.statistics("", None)["model_stats"]
        assert [(s["name"], s["version"]) for s in everything] == [("cfg", "1"), ("cfg", "2"), ("ens", "1")]
        with pytest.raises(NotFound, match="no version 7"):
            repo.statistics("cfg", "7")

    run(clean, scenario)


def test_batcher_counts_failures_and_timeouts() -> None:
    def broken(x: np.ndarray) -> dict[str, np.ndarray]:
        raise RuntimeError("boom")

    def slow(x: np.ndarray) -> dict[str, np.ndarray]:
        time.sleep(0.2)
        return {"y": x}

    async def scenario() -> None:
        failing = DynamicBatcher(broken, metrics=ServingMetrics())
        with pytest.raises(ModelplaneError, match="boom"):
            await failing.submit(ROWS)
        stats = failing.statistics
        assert (stats.fail_count, stats.success_count, stats.execution_count) == (1, 0, 0)
        assert stats.fail_s > 0
        late = DynamicBatcher(slow, metrics=ServingMetrics())
        with pytest.raises(DeadlineExceeded):
            await late.submit(ROWS, timeout_s=0.01)
        assert late.statistics.fail_count == 1
        await late.close()  # the batch still finishes; its answer is not a second outcome
        assert (late.statistics.fail_count, late.statistics.success_count) == (1, 0)
        await failing.close()

    asyncio.run(scenario())
