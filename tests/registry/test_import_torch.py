"""Importing torch models: TorchScript files (converted to ONNX once) and safetensors + a modelplane spec."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from modelplane.errors import Invalid
from modelplane.models.frameworks import default_spec, framework
from modelplane.registry.imports import ImportOptions, import_model
from modelplane.registry.loading import load_native, load_runtime
from modelplane.registry.registry import list_models
from modelplane.store import Store

# The files are written the way their users still write them.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")


class Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.hidden = torch.nn.Linear(4, 8)
        self.out = torch.nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.relu(self.hidden(x)))


def test_torchscript_is_converted_once_and_serves_its_softmax(store: Store, tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = Net().eval()
    path = tmp_path / "net.pt"
    torch.jit.script(net).save(str(path))
    info = import_model(store, "ts", path, ImportOptions(classes=("a", "b", "c")))

    assert info.framework == "onnx" and info.input_shape == [4] and info.classes == ["a", "b", "c"]
    assert info.params["imported"]["format"] == "torchscript"
    assert "torchscript_source" in info.artifacts
    x = torch.randn(6, 4)
    with torch.no_grad():
        want = torch.softmax(net(x), dim=1).numpy()
    np.testing.assert_allclose(load_runtime(store, info).predict(x.numpy())["probabilities"], want, atol=1e-5)


def test_torchscript_that_is_not_torchscript_is_refused(store: Store, tmp_path: Path) -> None:
    import zipfile

    path = tmp_path / "fake.pt"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("fake/data.pkl", b"junk")
        zf.writestr("fake/code/__torch__.py", "junk")
    with pytest.raises(Invalid, match=r"torch cannot load fake\.pt as TorchScript") as refused:
        import_model(store, "fake", path)
    assert "\n" not in str(refused.value)
    assert list_models(store) == []


def _weights_folder(tmp_path: Path) -> tuple[Path, torch.nn.Module]:
    spec = default_spec("mlp", task="classification", input_shape=[4], num_outputs=3)
    adapter = framework("torch")
    model = adapter.build(spec, seed=0).eval()
    folder = tmp_path / "mlp"
    folder.mkdir()
    adapter.save_weights(model, folder)
    (folder / "spec.json").write_text(json.dumps(spec.model_dump(mode="json")))
    return folder, model


def test_safetensors_with_a_spec_is_a_torch_version_like_a_trained_one(store: Store, tmp_path: Path) -> None:
    folder, model = _weights_folder(tmp_path)
    info = import_model(store, "mlp", folder, ImportOptions(classes=("x", "y", "z")))

    assert (info.framework, info.kind, info.task) == ("torch", "mlp", "classification")
    assert {"safetensors", "onnx"} <= set(info.artifacts)
    assert info.params["imported"]["format"] == "safetensors"
    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    with torch.no_grad():
        logits = load_native(store, info)(torch.from_numpy(x))
        want = model(torch.from_numpy(x))
    np.testing.assert_allclose(logits.numpy(), want.numpy(), atol=1e-6)
    got = load_runtime(store, info).predict(x)["probabilities"]
    np.testing.assert_allclose(got, torch.softmax(want, 1).numpy(), atol=1e-5)


def test_safetensors_that_do_not_fit_the_spec_are_refused(store: Store, tmp_path: Path) -> None:
    folder, _ = _weights_folder(tmp_path)
    spec = json.loads((folder / "spec.json").read_text())
    (folder / "spec.json").write_text(json.dumps({**spec, "input_shape": [5]}))
    with pytest.raises(Invalid, match="does not fit the mlp spec") as refused:
        import_model(store, "mlp", folder)
    assert "\n" not in str(refused.value)
    (folder / "spec.json").write_text(json.dumps({**spec, "kind": "transformer"}))
    with pytest.raises(Invalid, match="unknown kind 'transformer'"):
        import_model(store, "mlp", folder)
    with pytest.raises(Invalid, match="holds weights without their model"):
        import_model(store, "mlp", folder / "model.safetensors")
    assert list_models(store) == []
