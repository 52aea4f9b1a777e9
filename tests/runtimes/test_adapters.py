"""The registry of runtime adapters: names, the default choice, and imports kept for when one is used."""

from __future__ import annotations

import subprocess
import sys

import pytest

from modelplane.errors import Invalid
from modelplane.runtimes.adapters import ADAPTERS, default_runtime, get_adapter


def test_each_registered_adapter_says_what_it_loads() -> None:
    loads = {name: get_adapter(name).artifact for name in ADAPTERS}
    assert loads == {"onnxruntime": "onnx", "torchscript": "torchscript", "native": None}


def test_unknown_names_are_refused_with_the_choices() -> None:
    with pytest.raises(
        Invalid, match="unknown runtime 'tensorrt'; the runtimes are native, onnxruntime, torchscript"
    ):
        get_adapter("tensorrt")


def test_the_default_is_the_onnx_graph_where_there_is_one() -> None:
    assert default_runtime({"safetensors": 1, "onnx": 2}) == "onnxruntime"
    assert default_runtime(["skops"]) == "native"


def test_the_registry_imports_nothing_heavy() -> None:
    code = (
        "import sys; import modelplane.runtimes.adapters; "
        "print(sorted(m for m in ('numpy', 'torch', 'sklearn', 'onnxruntime') if m in sys.modules))"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]"
