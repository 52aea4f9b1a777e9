"""A TorchScript file: converted once to ONNX at import (torch.onnx's TorchScript exporter, the one that
reads ScriptModules), checked against the module on the sample rows, then imported as an ONNX graph.

Converting rather than keeping a TorchScript-runtime version makes an import serve, batch-predict, export
and quantise like every other version, all through ONNX Runtime. The file itself is kept beside the graph.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from modelplane.errors import Invalid
from modelplane.models.onnx_checks import first_line
from modelplane.registry.imports.imported import Imported, onnx_version
from modelplane.registry.imports.onnx_file import import_onnx_graph
from modelplane.registry.imports.options import ImportOptions

SOURCE_FORMAT = "torchscript_source"  # the imported file; not "torchscript", which runtimes read as contract


def import_torchscript(
    path: Path, options: ImportOptions, reference: np.ndarray | None, scratch: Path
) -> Imported:
    import torch

    try:
        with (
            warnings.catch_warnings()
        ):  # deprecated for torch.export, but TorchScript is what was handed over
            warnings.simplefilter("ignore", DeprecationWarning)
            module = torch.jit.load(str(path), map_location="cpu").eval()
    except Exception as exc:  # RuntimeError from the archive reader
        raise Invalid(
            f"torch cannot load {path.name} as TorchScript ({first_line(exc)}); save it with torch.jit.save"
        ) from None
    shape = _input_shape(module, reference, path.name)
    converted = scratch / "converted.onnx"
    _to_onnx(module, shape, converted, path.name)

    def scores(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            out = module(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))
        if isinstance(out, (tuple, list)):
            out = out[0]
        return np.asarray(out.detach().float().numpy())

    graph = import_onnx_graph(
        converted, path.name, options, reference, scratch / "model.onnx", expected=scores
    )
    return onnx_version(graph, "torchscript", path, files={SOURCE_FORMAT: path})


def _input_shape(module: Any, reference: np.ndarray | None, name: str) -> list[int]:
    """One row's shape: the reference's width, else the first layer's input width (a Linear's in_features)."""
    if reference is not None:
        return [int(reference.shape[1])]
    for _, param in module.named_parameters():
        if param.dim() == 2:
            return [int(param.shape[1])]
        break
    raise Invalid(
        f"{name} does not say what one input row looks like (its first layer is not a Linear); give "
        "--reference rows so modelplane can run it"
    )


def _to_onnx(module: Any, shape: list[int], out: Path, name: str) -> None:
    import torch

    example = torch.zeros((2, *shape), dtype=torch.float32)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module,
                (example,),
                str(out),
                input_names=["x"],
                output_names=["scores"],
                dynamic_axes={"x": {0: "batch"}, "scores": {0: "batch"}},
                dynamo=False,  # torch.export cannot read a ScriptModule; this exporter reads TorchScript
            )
    except Exception as exc:
        raise Invalid(
            f"{name} cannot be converted to ONNX with input rows of shape {shape} ({first_line(exc)}); "
            f"give --reference rows of the right width ({math.prod(shape)} now) or export it to ONNX yourself"
        ) from None
