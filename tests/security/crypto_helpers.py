"""A real, tiny ONNX classifier registered as a version, and the keys the crypto tests turn on."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from pydantic import SecretStr

from modelplane.cli.context import platform
from modelplane.config import get_settings
from modelplane.registry.registry import NewVersion, register
from modelplane.registry.views import ModelVersionInfo
from modelplane.security import audit
from modelplane.store import Store

ROWS = np.eye(4, dtype=np.float32)


def graph_bytes(seed: int) -> bytes:
    """input [N, 4] -> probabilities [N, 3]: a MatMul and a Softmax, weights from `seed`."""
    weights = np.random.default_rng(seed).normal(size=(4, 3)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["input", "w"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
        ],
        f"tiny-{seed}",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, 4])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 3])],
        [numpy_helper.from_array(weights, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def register_graph(store: Store, tmp_path: Path, name: str = "tiny", seed: int = 0) -> ModelVersionInfo:
    path = tmp_path / f"{name}-{seed}.onnx"
    path.write_bytes(graph_bytes(seed))
    return register(
        store,
        NewVersion(
            model_name=name,
            task="classification",
            framework="onnx",
            kind="mlp",
            spec={"kind": "mlp", "input_shape": [4], "num_outputs": 3},
            weights_path=path,
            params={},
            metrics={},
            classes=["a", "b", "c"],
            onnx_path=path,
        ),
        by="alice",
    )


def new_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def use_master_key(store: Store, key: str | None, monkeypatch: pytest.MonkeyPatch | None = None) -> None:
    """Configure `key` (base64; None: no key) for `store`, as MODELPLANE_MASTER_KEY would at start."""
    store.settings = store.settings.model_copy(
        update={"master_key": SecretStr(key) if key else None, "master_key_file": None}
    )
    if monkeypatch is not None:  # and for the CLI, which reads the environment
        if key:
            monkeypatch.setenv("MODELPLANE_MASTER_KEY", key)
        else:
            monkeypatch.delenv("MODELPLANE_MASTER_KEY", raising=False)
        get_settings.cache_clear()
        platform.cache_clear()


def last_entry(store: Store) -> audit.AuditRecord:
    return audit.log(store, limit=1)[0]


def flip_byte(path: Path, offset: int = -20) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.chmod(0o644)
    path.write_bytes(bytes(data))
