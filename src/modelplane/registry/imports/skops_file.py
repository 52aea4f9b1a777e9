"""A scikit-learn model saved with skops: loaded with an explicit list of trusted types (never pickle),
converted once to an ONNX graph that speaks the contract (skl2onnx, as trained scikit-learn versions are),
checked against the model itself on the sample rows, and served through ONNX Runtime."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from modelplane.errors import IntegrityError, Invalid
from modelplane.models.onnx_checks import first_line, verify_export
from modelplane.registry.imports.imported import Imported, onnx_version
from modelplane.registry.imports.onnx_file import Graph
from modelplane.registry.imports.options import ImportOptions
from modelplane.registry.imports.samples import sample_rows

SKOPS_FORMAT = "skops"  # the imported file, kept beside the graph made from it


def trusted_types(path: Path, trust: tuple[str, ...]) -> list[str]:
    """Every type the file constructs, all passed to skops as the explicit trusted list. Those skops does
    not trust by default must be named with --trust, else the import is refused listing them: that
    includes scikit-learn's tree storage, whose node indices a crafted file can point out of bounds."""
    import skops.io as sio

    try:
        needed = sio.get_untrusted_types(file=path)
    except Exception as exc:  # a zip without skops' schema, a schema from another skops version
        raise Invalid(
            f"skops cannot read {path.name} ({first_line(exc)}); save it again with skops.io.dump"
        ) from None
    unknown = sorted({t for t in needed if t not in trust})
    if unknown:
        flags = " ".join(f"--trust {t}" for t in unknown)
        raise Invalid(
            f"{path.name} holds types skops does not trust by default: {', '.join(unknown)}; loading them "
            f"may run their code or read out of bounds. If you made the file or trust its source, import "
            f"again with {flags}"
        )
    return sorted(set(needed) | _types_in(path))


def _types_in(path: Path) -> set[str]:
    """Every type the file's schema names (what loading it constructs), for the explicit trusted list."""
    import json
    import zipfile

    with zipfile.ZipFile(path) as zf:
        schema = json.loads(zf.read("schema.json"))
    found: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            module, name = node.get("__module__"), node.get("__class__")
            if isinstance(module, str) and isinstance(name, str):
                found.add(f"{module}.{name}")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return found


def load_skops(path: Path, trust: tuple[str, ...]) -> tuple[Any, list[str]]:
    import skops.io as sio

    trusted = trusted_types(path, trust)
    try:
        return sio.load(path, trusted=trusted), trusted
    except Exception as exc:
        raise Invalid(f"skops cannot load {path.name}: {first_line(exc)}") from None


def import_skops(path: Path, options: ImportOptions, reference: np.ndarray | None, scratch: Path) -> Imported:
    model, trusted = load_skops(path, options.trust)
    graph = sklearn_graph(model, path.name, options, reference, scratch)
    return onnx_version(graph, "skops", path, files={SKOPS_FORMAT: path}, trusted_types=trusted)


def sklearn_graph(
    model: Any, name: str, options: ImportOptions, reference: np.ndarray | None, scratch: Path
) -> Graph:
    """`model` as a contract ONNX graph, checked against scikit-learn on the sample rows."""
    from sklearn.base import is_classifier, is_regressor

    from modelplane.models.sklearn_export import export_sklearn_onnx
    from modelplane.runtimes.onnx_runtime import OnnxRuntime
    from modelplane.runtimes.sklearn_runtime import SklearnRuntime

    if not hasattr(model, "predict"):
        raise Invalid(f"{name} holds a {type(model).__name__}, which does not predict; import a fitted model")
    task = "classification" if is_classifier(model) else "regression" if is_regressor(model) else None
    if task is None:
        task = options.task or ("classification" if hasattr(model, "predict_proba") else "regression")
    if options.task is not None and options.task != task:
        raise Invalid(f"{name} holds a {type(model).__name__}, a {task} model; drop --task {options.task}")
    width = getattr(model, "n_features_in_", None)
    if width is None:
        if reference is None:
            raise Invalid(f"{name} does not record how many features it reads; give --reference rows")
        width = reference.shape[1]
    shape = [int(width)]
    x, verified_on = sample_rows(shape, reference)
    native = SklearnRuntime(model, task=task, input_shape=shape)
    try:
        native.predict(x)
    except Exception as exc:
        raise Invalid(f"{name} fails on {verified_on}: {first_line(exc)}") from None
    out = scratch / "model.onnx"
    try:
        export_sklearn_onnx(model, task=task, input_shape=shape, path=out)
    except Invalid:
        raise
    except Exception as exc:  # skl2onnx: a converter missing for a step
        raise Invalid(
            f"{name} cannot be converted to ONNX ({first_line(exc)}); modelplane serves scikit-learn models "
            "through skl2onnx, so use estimators it converts"
        ) from None
    try:
        verify_export(native, OnnxRuntime(out, threads=1), x, atol=1e-4, rtol=1e-4)
    except IntegrityError as exc:
        raise Invalid(f"{name}'s ONNX conversion disagrees with scikit-learn: {exc}") from None
    classes = [str(c) for c in model.classes_] if task == "classification" else None
    if classes == [str(i) for i in range(len(classes or []))]:
        classes = None  # 0..C-1 are positions, not names: --classes or the data name them
    outputs = (
        len(model.classes_)
        if task == "classification"
        else int(np.asarray(model.predict(x)).reshape(len(x), -1).shape[1])
    )
    return Graph(
        path=out,
        task=task,
        input_shape=shape,
        num_outputs=outputs,
        classes=classes,
        signature={"estimator": type(model).__name__, "features": int(width)},
        verified_on=verified_on,
    )
