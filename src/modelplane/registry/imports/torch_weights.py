"""safetensors weights with a modelplane spec JSON (models/spec.py): a torch version like a trained one.

The spec names a family of modelplane's zoo (mlp, cnn, lstm, gru), so the version gets the framework's
full powers (TorchScript export, pruning, int8, distillation); its ONNX graph is exported here exactly
as training exports it, and checked against the torch module on the sample rows.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from modelplane.errors import IntegrityError, Invalid
from modelplane.models.frameworks import family, framework, parse_spec
from modelplane.models.onnx_checks import first_line, verify_export
from modelplane.registry.imports.imported import Imported, lineage
from modelplane.registry.imports.options import ImportOptions
from modelplane.registry.imports.samples import sample_rows


def _one(folder: Path, pattern: str, what: str) -> Path:
    found = sorted(folder.glob(pattern))
    if len(found) != 1:
        names = ", ".join(p.name for p in found) or "none"
        raise Invalid(f"{folder.name} must hold exactly one {what} ({pattern}); it holds {names}")
    return found[0]


def import_torch_weights(
    folder: Path, options: ImportOptions, reference: np.ndarray | None, scratch: Path
) -> Imported:
    from modelplane.runtimes.onnx_runtime import OnnxRuntime

    weights = _one(folder, "*.safetensors", "weights file")
    spec_file = (
        folder / "spec.json" if (folder / "spec.json").is_file() else _one(folder, "*.json", "spec JSON")
    )
    try:
        data = json.loads(spec_file.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Invalid(f"{spec_file.name} is not JSON ({exc}); give the model's modelplane spec") from None
    spec = parse_spec(data)
    if options.task is not None and options.task != spec.task:
        raise Invalid(f"{spec_file.name} says task {spec.task}; drop --task {options.task} or fix the spec")
    adapter = framework(family(spec.kind).framework)
    if adapter.weights_format != weights.suffix.lstrip("."):
        raise Invalid(
            f"a {spec.kind} model keeps its weights as {adapter.weights_format}, not {weights.suffix}"
        )
    try:
        model = adapter.load_weights(spec, weights, ref=weights.name)
    except (RuntimeError, ValueError, OSError) as exc:  # missing/unexpected keys, shape mismatch, bad header
        raise Invalid(
            f"{weights.name} does not fit the {spec.kind} spec in {spec_file.name}: {first_line(exc)}"
        ) from None
    x, verified_on = sample_rows(list(spec.input_shape), reference)
    native = adapter.native_runtime(model, spec)
    onnx_path = adapter.export_onnx(model, spec, scratch / "model.onnx")
    try:
        verify_export(native, OnnxRuntime(onnx_path, threads=1), x)
    except IntegrityError as exc:
        raise Invalid(f"the ONNX export of {weights.name} disagrees with torch: {exc}") from None
    return Imported(
        framework=family(spec.kind).framework,
        kind=spec.kind,
        task=spec.task,
        input_shape=list(spec.input_shape),
        num_outputs=spec.num_outputs,
        weights_path=weights,
        onnx_path=onnx_path,
        spec_data=spec.model_dump(mode="json"),
        lineage=lineage("safetensors", folder, spec_file=spec_file.name, verified_on=verified_on),
    )
