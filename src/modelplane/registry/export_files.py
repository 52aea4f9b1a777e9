"""`modelplane export`: a registered version as files for other tools (ONNX or TorchScript) + a JSON card."""

from __future__ import annotations

import json
from pathlib import Path

from modelplane.errors import Invalid
from modelplane.models.frameworks import TORCHSCRIPT, framework, is_trainable, parse_spec
from modelplane.registry.loading import load_native
from modelplane.registry.registry import get_version
from modelplane.store import Store

FORMATS = ("onnx", "torchscript")


def export_version(store: Store, ref: str, fmt: str, out_dir: Path) -> list[Path]:
    """Write the model file and a JSON card (inputs, outputs, classes) into `out_dir`."""
    if fmt not in FORMATS:
        raise Invalid(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    info = get_version(store, ref)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{info.model}-v{info.version}"
    if fmt == "onnx":
        if info.onnx_sha is None:
            raise Invalid(
                f"{info.ref} has no ONNX export ({info.onnx_note}); export it as torchscript "
                "if it is a torch model"
            )
        model_path = store.artifacts.copy_to(info.onnx_sha, out_dir / f"{stem}.onnx")
    else:
        adapter = framework(info.framework) if is_trainable(info.framework) else None
        if adapter is None or TORCHSCRIPT not in adapter.capabilities:
            what = f"a {adapter.title}" if adapter is not None else "an ONNX-only (int8)"
            raise Invalid(f"{info.ref} is {what} model; TorchScript needs a torch model (use --format onnx)")
        model = load_native(store, info)
        model_path = adapter.export_torchscript(model, parse_spec(info.spec), out_dir / f"{stem}.pt")
    outputs = ["label", "probabilities"] if info.task == "classification" else ["prediction"]
    card = {
        "model": info.model,
        "version": info.version,
        "format": fmt,
        "task": info.task,
        "input": {"name": "input", "datatype": "FP32", "shape": [-1, *info.input_shape]},
        "outputs": outputs,
        "classes": info.classes,
        "file": model_path.name,
    }
    card_path = out_dir / f"{stem}.json"
    card_path.write_text(json.dumps(card, indent=2))
    return [model_path, card_path]
