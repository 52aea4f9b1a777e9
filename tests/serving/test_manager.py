"""The model manager against a real store: deploy, infer, hot swap under load, canary, ensembles, restart."""

from __future__ import annotations

import asyncio
import gc
import re
import weakref
from collections import Counter

import numpy as np
import pytest

from modelplane.errors import Invalid, NotFound
from modelplane.local import Local
from modelplane.registry.loading import load_runtime
from modelplane.serving.manager import ModelManager
from modelplane.serving.metrics import ServingMetrics
from modelplane.serving.server import YOUNG_COLLECTION_OBJECTS, freeze_startup_objects
from modelplane.serving.types import InferRequest

ROWS = np.random.default_rng(0).uniform(0, 7, (5, 4)).astype(np.float32)
IRIS_COLUMNS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]


def request(model: str, x: np.ndarray = ROWS, **kwargs: object) -> InferRequest:
    return InferRequest(model=model, version=kwargs.pop("version", None), inputs={"input": x}, **kwargs)  # type: ignore[arg-type]


def manager_for(local: Local) -> ModelManager:
    return ModelManager(local.store, metrics=ServingMetrics(), poll_interval_s=0)


def test_deploy_infer_and_metadata(trained: Local) -> None:
    trained.deploy({"model": "iris-mlp@production"})

    async def scenario() -> None:
        manager = manager_for(trained)
        await manager.start()
        try:
            meta = manager.model_metadata("iris-mlp", None)
            info = trained.models.version("iris-mlp@1")
            assert meta.versions == ("1",) and [t.name for t in meta.inputs] == IRIS_COLUMNS
            assert {(t.datatype, t.shape) for t in meta.inputs} == {("FP32", (-1, 1))}
            outputs = [(t.name, t.datatype) for t in meta.outputs]
            assert outputs == [("label", "BYTES"), ("probabilities", "FP32")]
            assert meta.parameters["classes"] == info.classes == ["setosa", "versicolor", "virginica"]
            assert meta.parameters["columns"] == [{"name": n, "role": "numeric"} for n in IRIS_COLUMNS]
            result = await manager.infer(request("iris-mlp", id="r1"))
            expected = load_runtime(trained.store, info).predict(ROWS)
            np.testing.assert_allclose(result.outputs["probabilities"], expected["probabilities"], atol=1e-6)
            assert result.outputs["label"].tolist() == [info.classes[i] for i in expected["label"]]
            assert result.version == "1" and result.id == "r1"
            only = await manager.infer(request("iris-mlp", outputs=["label"]))
            assert list(only.outputs) == ["label"]
        finally:
            await manager.stop()

    asyncio.run(scenario())
    trained.deployments.undeploy("iris-mlp")


def test_bad_requests_name_the_problem(trained: Local) -> None:
    trained.deploy({"model": "iris-mlp@1"})

    async def scenario() -> None:
        manager = manager_for(trained)
        await manager.start()
        try:
            cases = [
                (request("nope"), NotFound, "not deployed"),
                (request("iris-mlp", version="9"), NotFound, "no version 9"),
                (InferRequest("iris-mlp", None, {"x": ROWS}), Invalid, "missing column(s) sepal length"),
                (request("iris-mlp", ROWS[:, :3]), Invalid, "[N, 4]"),
                (request("iris-mlp", ROWS[0]), Invalid, "[N, 4]"),
                (request("iris-mlp", np.array([[b"a"] * 4], dtype=object)), Invalid, "is FP32, got BYTES"),
                (request("iris-mlp", ROWS.astype(np.int64)), Invalid, "got INT64; send datatype FP32"),
                (request("iris-mlp", ROWS.astype(np.float64)), Invalid, "is FP32, got FP64"),
                (request("iris-mlp", np.full((1, 4), np.nan, np.float32)), Invalid, "NaN"),
                (request("iris-mlp", outputs=["logits"]), Invalid, "no output 'logits'"),
            ]
            for bad, error, text in cases:
                with pytest.raises(error, match=re.escape(text)):
                    await manager.infer(bad)
        finally:
            await manager.stop()

    asyncio.run(scenario())
    trained.deployments.undeploy("iris-mlp")


def test_hot_swap_under_load_fails_no_request(trained: Local) -> None:
    trained.models.alias("iris-mlp@1", "production")
    trained.deploy({"model": "iris-mlp@production"})

    async def scenario() -> tuple[int, Counter[str]]:
        manager = manager_for(trained)
        await manager.start()
        stop = asyncio.Event()
        failures = 0
        versions: Counter[str] = Counter()

        async def client() -> None:
            nonlocal failures
            while not stop.is_set():
                try:
                    versions[(await manager.infer(request("iris-mlp", ROWS[:1]))).version] += 1
                except Exception:
                    failures += 1

        clients = [asyncio.create_task(client()) for _ in range(64)]
        try:
            await asyncio.sleep(0.3)
            trained.models.alias("iris-mlp@2", "production")
            await manager.sync()
            assert manager.model_metadata("iris-mlp", None).versions == ("2",)
            before = versions["2"]
            await asyncio.sleep(0.3)
            assert versions["2"] > before
        finally:
            stop.set()
            await asyncio.gather(*clients)
            await manager.stop()
        return failures, versions

    failures, versions = asyncio.run(scenario())
    assert failures == 0 and versions["1"] > 0 and versions["2"] > 0
    trained.models.alias("iris-mlp@1", "production")
    trained.deployments.undeploy("iris-mlp")


def test_canary_split_is_close_to_the_percentage_and_sticky_per_id(trained: Local) -> None:
    trained.deploy({"model": "iris-mlp@1", "canary": {"model": "iris-mlp@2", "percent": 20}}, name="canary")

    async def scenario() -> None:
        manager = manager_for(trained)
        await manager.start()
        try:
            counts = Counter(
                [
                    (await manager.infer(request("canary", ROWS[:1], id=f"req-{i}"))).version
                    for i in range(1000)
                ]
            )
            assert 150 <= counts["2"] <= 250, counts
            sticky = {
                (await manager.infer(request("canary", ROWS[:1], id="user-7"))).version for _ in range(20)
            }
            assert len(sticky) == 1
            pinned = await manager.infer(request("canary", ROWS[:1], version="2"))
            assert pinned.version == "2"
        finally:
            await manager.stop()

    asyncio.run(scenario())
    trained.deployments.undeploy("canary")


def test_ensemble_mean_equals_mean_of_members(trained: Local) -> None:
    trained.deploy({"ensemble": {"members": ["iris-mlp@1", "iris-logreg@1"], "combine": "mean"}}, name="ens")

    async def scenario() -> None:
        manager = manager_for(trained)
        await manager.start()
        try:
            result = await manager.infer(request("ens"))
        finally:
            await manager.stop()
        members = [
            load_runtime(trained.store, trained.models.version(r)).predict(ROWS)["probabilities"]
            for r in ("iris-mlp@1", "iris-logreg@1")
        ]
        np.testing.assert_allclose(result.outputs["probabilities"], (members[0] + members[1]) / 2, atol=1e-5)
        classes = np.array(trained.models.version("iris-mlp@1").classes)
        best = result.outputs["probabilities"].argmax(axis=1)
        assert np.array_equal(result.outputs["label"], classes[best])

    asyncio.run(scenario())
    trained.deployments.undeploy("ens")


def test_deployments_survive_a_restart(trained: Local) -> None:
    trained.deploy({"model": "iris-logreg@1"})
    trained.deploy({"model": "diabetes-mlp@1"})

    async def serve_once() -> list[str]:
        manager = manager_for(trained)
        await manager.start()
        try:
            result = await manager.infer(
                InferRequest("diabetes-mlp", None, {"input": np.zeros((2, 10), np.float32)})
            )
            assert result.outputs["prediction"].shape == (2, 1)
            return sorted(manager.deployments())
        finally:
            await manager.stop()

    assert asyncio.run(serve_once()) == ["diabetes-mlp", "iris-logreg"]
    assert asyncio.run(serve_once()) == ["diabetes-mlp", "iris-logreg"]
    trained.deployments.undeploy("iris-logreg")
    trained.deployments.undeploy("diabetes-mlp")


def test_invalid_deployments_store_nothing(trained: Local) -> None:
    with pytest.raises(Invalid, match="cannot share"):
        trained.deploy({"model": "iris-mlp@1", "canary": {"model": "diabetes-mlp@1", "percent": 10}})
    with pytest.raises(NotFound, match="no version 42"):
        trained.deploy({"model": "iris-mlp@42"})
    with pytest.raises(Invalid, match="percent"):
        trained.deploy({"model": "iris-mlp@1", "canary": {"model": "iris-mlp@2", "percent": 150}})
    with pytest.raises(Invalid, match="weight"):
        trained.deploy(
            {"ensemble": {"members": ["iris-mlp@1", "iris-mlp@2"], "combine": "weighted"}}, name="e"
        )
    with pytest.raises(Invalid, match="vote needs classifiers"):
        trained.deploy(
            {"ensemble": {"members": ["diabetes-mlp@1", "diabetes-mlp@1"], "combine": "vote"}}, name="e"
        )
    assert trained.deployments.list() == []


def test_a_version_loaded_before_the_startup_freeze_is_released_when_swapped_out(trained: Local) -> None:
    """The data plane freezes what exists at start (gc.freeze); a hot swap must still free the old version."""
    trained.deploy({"model": "iris-mlp@1"}, name="frozen")

    async def scenario() -> None:
        manager = manager_for(trained)
        await manager.start()
        threshold = gc.get_threshold()
        try:
            freeze_startup_objects()
            assert gc.get_threshold()[0] == YOUNG_COLLECTION_OBJECTS  # in-flight requests do not trigger it
            old = weakref.ref(manager.deployments()["frozen"].primary)  # type: ignore[arg-type]
            trained.deploy({"model": "iris-mlp@2"}, name="frozen")
            await manager.sync(force=True)
            assert (await manager.infer(request("frozen"))).version == "2"
            gc.collect()
            assert old() is None, "the swapped-out version is still alive"
        finally:
            gc.unfreeze()
            gc.set_threshold(*threshold)
            await manager.stop()

    asyncio.run(scenario())
    trained.deployments.undeploy("frozen")
