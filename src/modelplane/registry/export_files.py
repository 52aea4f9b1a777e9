"""`modelplane export`: a registered version as files for other tools (ONNX or TorchScript) + a JSON card."""

from __future__ import annotations

import json
from pathlib import Path

import onnx

from modelplane.errors import Invalid
from modelplane.models.frameworks import TORCHSCRIPT, framework, is_trainable, parse_spec
from modelplane.registry.integrity import version_bytes
from modelplane.registry.loading import load_native
from modelplane.registry.registry import get_version
from modelplane.registry.tables import preprocessor_of
from modelplane.runtimes.adapters import ONNX_FORMAT
from modelplane.store import Store

FORMATS = ("onnx", "torchscript")


def export_version(store: Store, ref: str, fmt: str, out_dir: Path) -> list[Path]:
    """Write the model file and a JSON card (inputs, outputs, classes) into `out_dir`.

    A version fitted on a table exports as one ONNX graph that takes its raw named columns (one input
    each) with the preprocessing inside; as TorchScript, the network plus that preprocessing graph, whose
    `features` output the network reads."""
    if fmt not in FORMATS:
        raise Invalid(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    info = get_version(store, ref)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{info.model}-v{info.version}"
    prep = preprocessor_of(store, info)
    if fmt == "onnx":
        if info.onnx_sha is None:
            raise Invalid(
                f"{info.ref} has no ONNX export ({info.onnx_note}); export it as torchscript "
                "if it is a torch model"
            )
        model_path = out_dir / f"{stem}.onnx"
        graph_bytes = version_bytes(store, info, ONNX_FORMAT)  # the export is plaintext, as asked
        if prep is None:
            model_path.write_bytes(graph_bytes)
        else:
            graph = onnx.load_model_from_string(graph_bytes)
            onnx.save(prep.merged_with(graph, layout="columns", in_place=True), model_path)
    else:
        adapter = framework(info.framework) if is_trainable(info.framework) else None
        if adapter is None or TORCHSCRIPT not in adapter.capabilities:
            only = "imported" if "imported" in info.params else "int8"
            what = f"a {adapter.title}" if adapter is not None else f"an ONNX-only ({only})"
            raise Invalid(f"{info.ref} is {what} model; TorchScript needs a torch model (use --format onnx)")
        model = load_native(store, info)
        model_path = adapter.export_torchscript(model, parse_spec(info.spec), out_dir / f"{stem}.pt")
    outputs = ["label", "probabilities"] if info.task == "classification" else ["prediction"]
    card: dict[str, object] = {
        "model": info.model,
        "version": info.version,
        "format": fmt,
        "task": info.task,
        "input": {"name": "input", "datatype": "FP32", "shape": [-1, *info.input_shape]},
        "outputs": outputs,
        "classes": info.classes,
        "file": model_path.name,
    }
    files = [model_path]
    if prep is not None:
        columns = [{"name": c.name, "role": c.role, "datatype": _DATATYPES[c.role]} for c in prep.columns]
        if fmt == "onnx":  # the graph reads the raw columns itself
            card["inputs"] = columns
            del card["input"]
        else:
            prep_path = out_dir / f"{stem}.preprocess.onnx"
            onnx.save(prep.onnx_graph(layout="columns"), prep_path)
            card["preprocess"] = {"file": prep_path.name, "inputs": columns, "features": prep.feature_names}
            files.append(prep_path)
        if any(c.role == "categorical" for c in prep.columns):
            card["unknown_output"] = "unknown: 1 where a category value was not seen at training"
    card_path = out_dir / f"{stem}.json"
    card_path.write_text(json.dumps(card, indent=2))
    return [*files, card_path]


# The ONNX element type each role's column input has in the "columns" layout.
_DATATYPES = {"numeric": "FP32", "boolean": "FP32", "categorical": "BYTES", "datetime": "FP64"}
