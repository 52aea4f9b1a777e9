"""Torch zoo: shapes per kind, normalisation inside the module, and exports that keep a dynamic batch."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
import torch

from modelplane.errors import Invalid
from modelplane.models.frameworks import default_spec, parse_spec
from modelplane.models.torch_zoo import build_torch_model, set_normalization, standardizer

CASES: list[tuple[str, list[int], list[int] | None, dict[str, Any]]] = [
    ("mlp", [64], None, {}),
    ("mlp", [8, 8], None, {"batch_norm": True, "activation": "gelu"}),
    ("cnn", [64], [1, 8, 8], {}),
    ("cnn", [3, 8, 8], None, {"kernel_size": 5}),
    ("cnn", [4, 4], None, {"channels": [4, 4, 4, 4], "dense": []}),
    ("lstm", [64], [1, 8, 8], {}),
    ("lstm", [3, 8, 6], None, {"bidirectional": True}),
    ("gru", [20, 3], None, {"num_layers": 2, "dropout": 0.1, "bidirectional": True}),
    ("gru", [12], None, {}),
]
IDS = [f"{kind}-{'x'.join(map(str, shape))}" for kind, shape, _, _ in CASES]


def build(case: tuple[str, list[int], list[int] | None, dict[str, Any]], outputs: int = 5) -> Any:
    kind, shape, image, overrides = case
    spec = default_spec(
        kind,
        task="classification",
        input_shape=shape,
        num_outputs=outputs,
        image_shape=image,
        overrides=overrides,
    )
    model = build_torch_model(spec).eval()
    rng = np.random.default_rng(0)
    set_normalization(model, rng.normal(size=shape), rng.uniform(0.5, 2.0, size=shape))
    return spec, model


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_output_shape(case: Any) -> None:
    spec, model = build(case, outputs=7)
    for n in (1, 5):
        assert model(torch.randn(n, *spec.input_shape)).shape == (n, 7)


def test_regression_outputs() -> None:
    spec = parse_spec({"kind": "mlp", "task": "regression", "input_shape": [6], "num_outputs": 2})
    assert build_torch_model(spec)(torch.randn(3, 6)).shape == (3, 2)


def test_standardize_is_first_and_in_state_dict() -> None:
    spec, model = build(CASES[2])
    assert next(iter(model.named_children()))[0] == "standardize"
    state = model.state_dict()
    assert state["standardize.mean"].shape == (64,)
    assert state["standardize.std"].shape == (64,)
    fresh = build_torch_model(spec)
    assert torch.equal(standardizer(fresh).mean, torch.zeros(64))
    assert torch.equal(standardizer(fresh).std, torch.ones(64))
    x = torch.randn(4, 64)
    assert torch.equal(standardizer(fresh)(x), x)


def test_set_normalization_handles_constant_features() -> None:
    spec = parse_spec({"kind": "mlp", "task": "classification", "input_shape": [2, 2], "num_outputs": 2})
    model = build_torch_model(spec)
    set_normalization(model, np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.0, 0.0, 1e-9, 1.0]))
    assert standardizer(model).std.flatten().tolist() == pytest.approx([2.0, 1.0, 1e-6, 1.0])
    with pytest.raises(Invalid, match="4"):
        set_normalization(model, np.zeros(3), np.ones(3))
    with pytest.raises(Invalid, match="NaN"):
        set_normalization(model, np.full(4, np.nan), np.ones(4))


def test_init_is_seeded_and_leaves_global_rng() -> None:
    spec = default_spec("cnn", task="classification", input_shape=[8, 8], num_outputs=3)
    before = torch.get_rng_state()
    a, b, c = build_torch_model(spec), build_torch_model(spec), build_torch_model(spec, seed=1)
    assert torch.equal(before, torch.get_rng_state())
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_sklearn_kind_is_refused() -> None:
    spec = parse_spec({"kind": "svm", "task": "classification", "input_shape": [4], "num_outputs": 2})
    with pytest.raises(Invalid, match="build_estimator"):
        build_torch_model(spec)


def export_onnx(model: torch.nn.Module, x: torch.Tensor, path: Path, dynamo: bool) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo:
            torch.onnx.export(
                model,
                (x,),
                str(path),
                input_names=["x"],
                output_names=["y"],
                dynamo=True,
                dynamic_shapes={"x": {0: torch.export.Dim("batch")}},
                verbose=False,
            )
        else:
            torch.onnx.export(
                model,
                (x,),
                str(path),
                input_names=["x"],
                output_names=["y"],
                dynamo=False,
                dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}},
            )


def check_onnx(case: Any, tmp_path: Path, dynamo: bool) -> None:
    spec, model = build(case)
    path = tmp_path / "model.onnx"
    export_onnx(model, torch.randn(3, *spec.input_shape), path, dynamo)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for n in (1, 8):
        x = torch.randn(n, *spec.input_shape)
        got = session.run(None, {"x": x.numpy()})[0]
        np.testing.assert_allclose(got, model(x).detach().numpy(), atol=1e-4)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_onnx_legacy_export_dynamic_batch(case: Any, tmp_path: Path) -> None:
    check_onnx(case, tmp_path, dynamo=False)


@pytest.mark.parametrize("case", [CASES[3], CASES[5]], ids=[IDS[3], IDS[5]])
def test_onnx_dynamo_export_dynamic_batch(case: Any, tmp_path: Path) -> None:
    check_onnx(case, tmp_path, dynamo=True)


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::torch.jit.TracerWarning")
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_torchscript_script_and_trace(case: Any) -> None:
    spec, model = build(case)
    scripted = torch.jit.script(model)
    traced = torch.jit.trace(model, torch.randn(3, *spec.input_shape))
    x = torch.randn(9, *spec.input_shape)
    expected = model(x)
    torch.testing.assert_close(scripted(x), expected, atol=1e-4, rtol=0)
    torch.testing.assert_close(traced(x), expected, atol=1e-4, rtol=0)
