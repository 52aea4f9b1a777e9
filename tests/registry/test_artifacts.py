"""A version's files are rows by format: written when it registers, added later, read back over JSON."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from modelplane.client.http import parse
from modelplane.errors import Invalid
from modelplane.registry.registry import NewVersion, add_artifact, get_version, register
from modelplane.registry.views import ModelVersionInfo
from modelplane.store import Store


def _new(tmp_path: Path, framework: str, weights: bytes, onnx: bytes | None) -> NewVersion:
    (tmp_path / "w").write_bytes(weights)
    if onnx is not None:
        (tmp_path / "o").write_bytes(onnx)
    return NewVersion(
        model_name=f"m-{framework}",
        task="classification",
        framework=framework,
        kind="mlp",
        spec={"kind": "mlp", "input_shape": [4]},
        weights_path=tmp_path / "w",
        params={},
        metrics={},
        onnx_path=tmp_path / "o" if onnx is not None else None,
    )


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_files_are_rows_by_format(store: Store, tmp_path: Path) -> None:
    torch_version = register(store, _new(tmp_path, "torch", b"weights", b"graph"))
    assert {f: (a.sha256, a.size) for f, a in torch_version.artifacts.items()} == {
        "safetensors": (sha(b"weights"), 7),
        "onnx": (sha(b"graph"), 5),
    }
    assert torch_version.weights_sha == sha(b"weights") and torch_version.onnx_sha == sha(b"graph")
    sklearn_version = register(store, _new(tmp_path, "sklearn", b"pipeline", None))
    assert sorted(sklearn_version.artifacts) == ["skops"] and sklearn_version.onnx_sha is None
    int8 = register(store, _new(tmp_path, "onnx", b"int8", b"int8"))
    assert sorted(int8.artifacts) == ["onnx"] and int8.weights_sha == int8.onnx_sha == sha(b"int8")


def test_an_onnx_version_has_one_graph(store: Store, tmp_path: Path) -> None:
    with pytest.raises(Invalid, match="weights are its ONNX graph"):
        register(store, _new(tmp_path, "onnx", b"int8", b"another graph"))
    with pytest.raises(Invalid, match="unknown framework 'jax'"):
        register(store, _new(tmp_path, "jax", b"w", None))


def test_a_file_made_later_joins_the_version_once(store: Store, tmp_path: Path) -> None:
    info = register(store, _new(tmp_path, "torch", b"weights", b"graph"))
    (tmp_path / "trace").write_bytes(b"trace")
    added = add_artifact(store, info, "torchscript", tmp_path / "trace")
    assert added.artifacts["torchscript"].sha256 == sha(b"trace")
    (tmp_path / "again").write_bytes(b"made again")
    again = add_artifact(store, info, "torchscript", tmp_path / "again")  # a concurrent maker lost the race
    assert again.artifacts["torchscript"].sha256 == sha(b"trace")
    assert get_version(store, info.ref).artifacts == added.artifacts


def test_json_keeps_the_shas_and_round_trips(store: Store, tmp_path: Path) -> None:
    info = register(store, _new(tmp_path, "torch", b"weights", b"graph"))
    data = json.loads(json.dumps(info.to_dict()))
    assert data["weights_sha"] == sha(b"weights") and data["onnx_sha"] == sha(b"graph")
    assert data["artifacts"]["onnx"] == {"sha256": sha(b"graph"), "size": 5}
    assert parse(ModelVersionInfo, data) == info
