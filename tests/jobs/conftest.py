"""A tiny ONNX classifier deployed in a fresh store (registered in milliseconds, no training), input files
to predict, and helpers to claim and run jobs in-process."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import onnx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from onnx import TensorProto, helper

from modelplane.jobs.executor import execute
from modelplane.jobs.identity import WorkerIdentity
from modelplane.jobs.kinds import KINDS
from modelplane.jobs.lease import Lease, claim
from modelplane.jobs.queue import get_job
from modelplane.jobs.views import JobInfo
from modelplane.registry.registry import NewVersion, register
from modelplane.serving.deployments import parse_spec, save_deployment
from modelplane.store import Store

FEATURES = ["a", "b", "c", "d"]
CLASSES = ["setosa", "versicolor", "virginica"]


def tiny_model(path: Path, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """input (N, 4) -> probabilities = softmax(x @ w + b), label = argmax; returns (w, b)."""
    rng = np.random.default_rng(seed)
    w, b = rng.normal(size=(4, 3)).astype(np.float32), rng.normal(size=3).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["input", "w"], ["xw"]),
            helper.make_node("Add", ["xw", "b"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
            helper.make_node("ArgMax", ["logits"], ["label"], axis=1, keepdims=0),
        ],
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 4])],
        [
            helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 3]),
        ],
        [onnx.numpy_helper.from_array(w, "w"), onnx.numpy_helper.from_array(b, "b")],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8), path)
    return w, b


def expected_labels(model: tuple[np.ndarray, np.ndarray], x: np.ndarray) -> np.ndarray:
    w, b = model
    return np.argmax(x @ w + b, axis=1)


def deploy_tiny(
    store: Store, folder: Path, name: str = "tiny", seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    path = folder / f"{name}.onnx"
    model = tiny_model(path, seed)
    spec = {"kind": "mlp", "task": "classification", "input_shape": [4], "num_outputs": 3}
    register(
        store,
        NewVersion(
            model_name=name,
            task="classification",
            framework="onnx",
            kind="mlp",
            spec=spec,
            weights_path=path,
            params={},
            metrics={},
            classes=CLASSES,
            onnx_path=path,
        ),
    )
    save_deployment(store, parse_spec({"model": f"{name}@1"}), name=name)
    return model


def rows(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 4)).astype(np.float32)


def write_parquet(path: Path, x: np.ndarray, ids: np.ndarray | None = None, **extra: pa.Array) -> Path:
    columns = {} if ids is None else {"row_id": pa.array(ids)}
    columns.update({name: pa.array(x[:, j]) for j, name in enumerate(FEATURES[: x.shape[1]])})
    columns.update(extra)
    pq.write_table(pa.table(columns), path, row_group_size=max(1, len(x) // 3))
    return path


@pytest.fixture
def tiny(store: Store, tmp_path: Path) -> tuple[np.ndarray, np.ndarray]:
    return deploy_tiny(store, tmp_path)


ME = WorkerIdentity.current()


def claim_one(store: Store, **kwargs: object) -> Lease:
    lease = claim(store, ME, kinds=tuple(KINDS), **kwargs)  # type: ignore[arg-type]
    assert lease is not None, "nothing to claim"
    return lease


def run_inline(store: Store, job_id: str) -> JobInfo:
    """Claim and execute the job in this process (the code a worker's job process runs)."""
    execute(store, claim_one(store, only=[job_id]), threads=1)
    return get_job(store, job_id)


def until(condition: Callable[[], object], timeout_s: float = 30.0, what: str = "condition") -> object:
    """Poll a condition (no fixed sleeps): its first truthy value, or fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not (found := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)
    return found


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "files"
    folder.mkdir()
    yield folder
