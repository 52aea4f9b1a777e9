"""Import a model trained elsewhere as a new version: ONNX, skops, TorchScript, safetensors + spec, MLflow.

Each format is one module that turns the file into what a trained version is made of (`Imported`); this
module checks the options, reads the reference rows, evaluates where asked and registers. Graphs from
elsewhere are rewired to the runtime contract (onnx_contract.py) so that deploy, serve, batch-predict and
export treat them like trained versions. Nothing a user hands over is unpickled: skops loads only the
types listed as trusted, TorchScript archives go through torch.jit.load (TorchScript's own restricted
loader), safetensors are plain tensors.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from modelplane.errors import Invalid
from modelplane.refs import check_name
from modelplane.registry.imports.detect import FORMATS, MLFLOW, ONNX, SAFETENSORS, SKOPS, TORCHSCRIPT, detect
from modelplane.registry.imports.evaluate import evaluate_import
from modelplane.registry.imports.imported import Imported
from modelplane.registry.imports.options import ImportOptions
from modelplane.registry.imports.samples import read_reference
from modelplane.registry.registry import NewVersion, register
from modelplane.registry.views import ModelVersionInfo
from modelplane.store import Store

__all__ = ["FORMATS", "REFERENCE_FORMAT", "ImportOptions", "import_model"]

REFERENCE_FORMAT = "reference"  # the --reference rows (parquet), kept with the version for drift checks


def import_model(
    store: Store, name: str, path: Path, options: ImportOptions = ImportOptions(), *, by: str = ""
) -> ModelVersionInfo:
    """path: a file or an MLflow model directory; format detected from content/extension."""
    check_name(name, "model")
    options.check()
    path = Path(path)
    fmt = detect(path)
    reference = read_reference(Path(options.reference)) if options.reference is not None else None
    with tempfile.TemporaryDirectory(dir=store.artifacts.tmp_dir) as scratch:
        made = _convert(fmt, path, options, reference, Path(scratch))
        _settle_classes(made, options)
        metrics: dict[str, Any] = {}
        dataset_version_id = None
        params: dict[str, Any] = {"imported": made.lineage}
        if options.data:  # options.check: with --evaluate
            evaluation = evaluate_import(store, made, options.data)
            metrics["test"] = evaluation.metrics
            params["split"] = evaluation.split
            params["imported"]["evaluated_on"] = options.data
            dataset_version_id = evaluation.dataset_version_id
            if made.classes is None:
                made.classes = evaluation.classes
        files = dict(made.files)
        if options.reference is not None and reference is not None:
            files[REFERENCE_FORMAT] = Path(options.reference)
            params["imported"]["reference"] = {
                "rows": len(reference),
                "columns": int(reference.shape[1]),
                "sha256": _sha256(Path(options.reference)),
                "what": "the rows given with --reference, stored as the version's 'reference' parquet file",
            }
        if made.task == "classification" and made.classes is None:
            made.classes = [str(i) for i in range(made.num_outputs)]
        version = register(
            store,
            NewVersion(
                model_name=name,
                task=made.task,
                framework=made.framework,
                kind=made.kind,
                spec=made.spec(),
                weights_path=made.weights_path,
                params=params,
                metrics=metrics,
                classes=made.classes,
                onnx_path=made.onnx_path,
                onnx_note=made.onnx_note,
                run_id=options.run_id,
                dataset_version_id=dataset_version_id,
                files=files,
                scratch=made.scratch,
            ),
            by=by,
        )
    from modelplane.monitoring.profile_store import profile_quietly  # it imports the registry

    profile_quietly(store, version.ref)
    return version


def _convert(
    fmt: str, path: Path, options: ImportOptions, reference: np.ndarray | None, scratch: Path
) -> Imported:
    if fmt == ONNX:
        from modelplane.registry.imports.onnx_file import import_onnx_file

        return import_onnx_file(path, options, reference, scratch)
    if fmt == SKOPS:
        from modelplane.registry.imports.skops_file import import_skops

        return import_skops(path, options, reference, scratch)
    if fmt == TORCHSCRIPT:
        from modelplane.registry.imports.torchscript_file import import_torchscript

        return import_torchscript(path, options, reference, scratch)
    if fmt == SAFETENSORS:
        from modelplane.registry.imports.torch_weights import import_torch_weights

        return import_torch_weights(path, options, reference, scratch)
    assert fmt == MLFLOW
    from modelplane.registry.imports.mlflow_dir import import_mlflow

    return import_mlflow(path, options, reference, scratch)


def _settle_classes(made: Imported, options: ImportOptions) -> None:
    """--classes wins where it fits the model's outputs; refused where it does not."""
    if made.task != "classification":
        if options.classes is not None:
            raise Invalid(
                f"the model is a regressor (it gives {made.num_outputs} value(s) per row); drop --classes "
                "or import a classifier"
            )
        return
    if options.classes is not None:
        if len(options.classes) != made.num_outputs:
            raise Invalid(
                f"--classes names {len(options.classes)} labels but the model gives {made.num_outputs} "
                "class probabilities; name one label per output column, in order"
            )
        made.classes = list(options.classes)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
