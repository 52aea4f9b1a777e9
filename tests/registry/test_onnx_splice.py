"""An imported graph written with its weights copied from the file read (not serialised again) parses back
to the same model, serves the same answers, and falls back to a plain save where the file is unusual."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from modelplane.registry.imports import ImportOptions, import_model, onnx_splice
from modelplane.registry.loading import load_runtime
from modelplane.store import Store
from tests.registry.import_files import expected_logits, linear_onnx, softmax

X = np.random.default_rng(1).normal(size=(5, 4)).astype(np.float32)


def _normalised(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model with its initializers in name order (the one thing splicing may change)."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    ordered = sorted(copy.graph.initializer, key=lambda t: t.name)
    del copy.graph.initializer[:]
    copy.graph.initializer.extend(ordered)
    return copy


def _stored_graph(store: Store, sha: str) -> onnx.ModelProto:
    return onnx.load(str(store.artifacts.verified_path(sha)))


@pytest.mark.parametrize("kernel_copy", [True, False])
def test_a_spliced_graph_is_the_model_a_plain_save_writes(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kernel_copy: bool
) -> None:
    if not kernel_copy:  # a filesystem without copy_file_range: copied through a buffer
        monkeypatch.setattr(onnx_splice.os, "copy_file_range", _unsupported)
    path = linear_onnx(tmp_path / "clf.onnx")
    options = ImportOptions(classes=("a", "b", "c"))
    monkeypatch.setattr(onnx_splice, "SPLICE_BYTES", 1 << 40)  # nothing large enough: a plain save
    plain = import_model(store, "plain", path, options)
    monkeypatch.setattr(onnx_splice, "SPLICE_BYTES", 0)  # every initializer copied from the file read
    spliced = import_model(store, "spliced", path, options)
    assert plain.weights_sha != spliced.weights_sha  # the bytes differ (initializer order) ...
    plain_model, spliced_model = (
        _stored_graph(store, plain.weights_sha),
        _stored_graph(store, spliced.weights_sha),
    )
    assert _normalised(spliced_model) == _normalised(plain_model)  # ... the model does not
    onnx.checker.check_model(spliced_model)
    out = load_runtime(store, spliced).predict(X)
    np.testing.assert_allclose(out["probabilities"], softmax(expected_logits(X)), atol=1e-5)


def _graph_with(initializers: list[onnx.TensorProto]) -> onnx.ModelProto:
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", initializers[0].name], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
        initializers,
    )
    return helper.make_model(graph)


def test_only_large_uniquely_named_initializers_are_found(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(onnx_splice, "SPLICE_BYTES", 40)
    small = numpy_helper.from_array(np.ones(2, np.float32), "small")
    large = numpy_helper.from_array(np.ones(64, np.float32), "large")
    twice = numpy_helper.from_array(np.ones(64, np.float32), "twice")
    raw = _graph_with([small, large, twice, twice]).SerializeToString()
    found = onnx_splice.large_initializers(memoryview(raw))
    assert list(found) == ["large"]
    start, stop = found["large"]
    assert raw[start:stop] == large.SerializeToString()


def test_bytes_that_are_not_the_model_fall_back_to_a_plain_save(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(onnx_splice, "SPLICE_BYTES", 0)
    model = _graph_with([numpy_helper.from_array(np.ones(2, np.float32), "w")])
    expected = model.SerializeToString()
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\xff\xff\xff")  # a truncated varint
    onnx_splice.save_spliced(model, tmp_path / "a.onnx", garbage)
    assert (tmp_path / "a.onnx").read_bytes() == expected


def test_a_file_changed_while_imported_is_written_as_parsed(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelplane.registry.imports import onnx_file

    path = linear_onnx(tmp_path / "clf.onnx")
    stamps = iter([(1, 1, 1), (1, 1, 2)])  # read at parse, then touched before the graph is written
    monkeypatch.setattr(onnx_file, "_stamp", lambda _path: next(stamps))
    monkeypatch.setattr(onnx_file, "save_spliced", _refuse)
    info = import_model(store, "clf", path, ImportOptions(classes=("a", "b", "c")))
    out = load_runtime(store, info).predict(X)
    np.testing.assert_allclose(out["probabilities"], softmax(expected_logits(X)), atol=1e-5)


def _refuse(*_args: object) -> None:
    raise AssertionError("a changed file must not be spliced")


def _unsupported(*_args: object) -> int:
    raise OSError(95, "Operation not supported")
