"""A deployment picks its runtime (onnxruntime, torchscript, native, or any registered one): the same
answers over real HTTP, the file a runtime loads made once at deploy time, bad choices refused then."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from modelplane.errors import Invalid
from modelplane.local import Local
from modelplane.registry.loading import load_runtime
from modelplane.registry.registry import NewVersion, register
from modelplane.runtimes.adapters import ADAPTERS
from modelplane.runtimes.torchscript_runtime import TorchScriptAdapter
from modelplane.serving.server import BackgroundDataPlane, DataPlane, ServeOptions
from modelplane.serving.types import InferRequest
from tests.serving.test_manager import manager_for

ROWS = np.random.default_rng(4).uniform(0, 7, (9, 4)).astype(np.float32)
PLATFORMS = {
    "default": "onnxruntime_onnx",
    "onnxruntime": "onnxruntime_onnx",
    "torchscript": "pytorch_libtorch",
    "native": "torch_native",
}


def infer(url: str, name: str) -> dict[str, np.ndarray]:
    body = {
        "inputs": [
            {"name": "input", "shape": list(ROWS.shape), "datatype": "FP32", "data": ROWS.ravel().tolist()}
        ]
    }
    reply = httpx.post(f"{url}/v2/models/{name}/infer", json=body, timeout=30)
    assert reply.status_code == 200, reply.text
    return {o["name"]: np.asarray(o["data"]).reshape(o["shape"]) for o in reply.json()["outputs"]}


@pytest.fixture
def per_runtime(trained: Local) -> Iterator[list[str]]:
    """iris-mlp@1 deployed once per runtime, and without one."""
    trained.deploy({"model": "iris-mlp@1"}, name="default")
    for runtime in ("onnxruntime", "torchscript", "native"):
        trained.deploy({"model": "iris-mlp@1", "runtime": runtime}, name=runtime)
    yield list(PLATFORMS)
    for name in PLATFORMS:
        trained.deployments.undeploy(name)


def test_every_runtime_answers_the_same_over_http(
    trained: Local, per_runtime: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    trace = trained.models.version("iris-mlp@1").artifacts["torchscript"]  # made by the deploy, kept
    assert trace.size > 0 and trained.store.artifacts.exists(trace.sha256)

    def made_again(*args: object) -> None:
        raise AssertionError("a restart traced the model again instead of loading the stored trace")

    monkeypatch.setattr(TorchScriptAdapter, "make_artifact", made_again)
    plane = DataPlane(trained.store, ServeOptions(port=0, grpc_port=None, poll_interval_s=0))
    with BackgroundDataPlane(plane) as running:
        answers = {name: infer(running.url, name) for name in per_runtime}
        for name in per_runtime:
            metadata = httpx.get(f"{running.url}/v2/models/{name}", timeout=10).json()
            assert metadata["platform"] == PLATFORMS[name]
            assert [o["name"] for o in metadata["outputs"]] == ["label", "probabilities"]
    reference = answers["default"]
    for name, answer in answers.items():
        np.testing.assert_array_equal(answer["label"], reference["label"], err_msg=name)
        np.testing.assert_allclose(
            answer["probabilities"], reference["probabilities"], atol=1e-5, err_msg=name
        )


def test_native_serves_a_scikit_learn_model_like_its_graph(trained: Local) -> None:
    info = trained.models.version("iris-logreg@1")
    graph = load_runtime(trained.store, info).predict(ROWS)
    native = load_runtime(trained.store, info, "native")
    assert native.platform == "sklearn_native"
    np.testing.assert_array_equal(native.predict(ROWS)["label"], graph["label"])


def _version_without_graph(local: Local, tmp_path: Path) -> str:
    weights = tmp_path / "weights.safetensors"
    weights.write_bytes(b"never loaded: the refusal comes first")
    spec = {"kind": "mlp", "input_shape": [4], "num_outputs": 3}
    new = NewVersion(
        "iris-no-graph",
        "classification",
        "torch",
        "mlp",
        spec,
        weights,
        {},
        {},
        classes=["setosa", "versicolor", "virginica"],
        onnx_note="torch.export cannot capture it",
    )
    return register(local.store, new).ref


def test_bad_choices_are_refused_when_saved(trained: Local, tmp_path: Path) -> None:
    before = [d.name for d in trained.deployments.list()]
    no_graph = _version_without_graph(trained, tmp_path)
    cases = [
        (
            {"model": "iris-logreg@1", "runtime": "torchscript"},
            r"iris-logreg@1 is a sklearn model.*onnxruntime or native",
        ),
        ({"model": no_graph, "runtime": "onnxruntime"}, rf"{no_graph} has no ONNX graph.*use runtime native"),
        (
            {
                "model": "iris-mlp@1",
                "canary": {"model": "iris-logreg@1", "percent": 10},
                "runtime": "torchscript",
            },
            r"iris-logreg@1 is a sklearn model",
        ),
        (
            {"model": "iris-mlp@1", "runtime": "tensorrt"},
            r"unknown runtime 'tensorrt'; use one of native, onnxruntime",
        ),
    ]
    for spec, message in cases:
        with pytest.raises(Invalid, match=message):
            trained.deploy(spec, name="refused")
    assert [d.name for d in trained.deployments.list()] == before
    assert "torchscript" not in trained.models.version("iris-logreg@1").artifacts


def test_a_registered_toy_runtime_serves_a_deployment(
    trained: Local, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(ADAPTERS, "toy", "tests.runtimes.toy:ADAPTER")
    trained.deploy({"model": "iris-mlp@2", "runtime": "toy"}, name="toy")
    try:
        assert "toy" in trained.models.version("iris-mlp@2").artifacts

        async def scenario() -> None:
            manager = manager_for(trained)
            await manager.start()
            try:
                assert manager.model_metadata("toy", None).platform == "toy_softmax"
                result = await manager.infer(InferRequest("toy", None, {"input": ROWS}))
                classes = np.array(trained.models.version("iris-mlp@2").classes)
                np.testing.assert_array_equal(result.outputs["label"], classes[ROWS[:, :3].argmax(axis=1)])
            finally:
                await manager.stop()

        asyncio.run(scenario())
    finally:
        trained.deployments.undeploy("toy")
