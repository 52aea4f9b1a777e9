"""An MLflow model folder: its `MLmodel` says which flavours it holds and where their files are.

Imported: the `onnx` flavour (its `data` file) and the `sklearn` flavour saved with
`serialization_format: skops` (mlflow 3's default outside Databricks; `pickled_model` names the file).
A pickle or cloudpickle sklearn flavour, or a folder with only `python_function` or other flavours, is
refused naming what it has: loading a pickle runs whatever code it carries.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from modelplane.errors import Invalid
from modelplane.registry.imports.imported import Imported, onnx_version
from modelplane.registry.imports.onnx_file import import_onnx_graph
from modelplane.registry.imports.options import ImportOptions
from modelplane.registry.imports.skops_file import SKOPS_FORMAT, load_skops, sklearn_graph

SUPPORTED = "onnx, or sklearn saved with serialization_format='skops'"


def read_mlmodel(folder: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load((folder / "MLmodel").read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise Invalid(f"{folder.name}/MLmodel is not YAML ({exc}); give an MLflow model folder") from None
    if not isinstance(data, dict) or not isinstance(data.get("flavors"), dict):
        raise Invalid(f"{folder.name}/MLmodel names no flavors; give a folder written by mlflow save_model")
    return data


def _inside(folder: Path, name: object) -> Path:
    path = (folder / str(name)).resolve()
    if folder.resolve() not in path.parents or not path.is_file():
        raise Invalid(f"MLmodel points at {name!r}, which is not a file inside {folder.name}")
    return path


def import_mlflow(
    folder: Path, options: ImportOptions, reference: np.ndarray | None, scratch: Path
) -> Imported:
    mlmodel = read_mlmodel(folder)
    flavors: dict[str, Any] = mlmodel["flavors"]
    about = {
        "flavor": None,
        "mlflow_version": mlmodel.get("mlflow_version"),
        "model_uuid": mlmodel.get("model_uuid"),
        "mlflow_run_id": mlmodel.get("run_id"),
    }
    if isinstance(flavors.get("onnx"), dict):
        file = _inside(folder, flavors["onnx"].get("data", "model.onnx"))
        graph = import_onnx_graph(
            file, f"{folder.name}/{file.name}", options, reference, scratch / "model.onnx"
        )
        made = onnx_version(graph, "mlflow", folder)
        made.lineage.update(about, flavor="onnx")
        return made
    sklearn = flavors.get("sklearn")
    if isinstance(sklearn, dict) and sklearn.get("serialization_format") == "skops":
        file = _inside(folder, sklearn.get("pickled_model", "model.skops"))
        model, trusted = load_skops(file, options.trust)
        graph = sklearn_graph(model, f"{folder.name}/{file.name}", options, reference, scratch)
        made = onnx_version(graph, "mlflow", folder, files={SKOPS_FORMAT: file}, trusted_types=trusted)
        made.lineage.update(about, flavor="sklearn")
        return made
    found = (
        ", ".join(
            f"{name} ({flavor.get('serialization_format')})"
            if isinstance(flavor, dict) and flavor.get("serialization_format")
            else name
            for name, flavor in flavors.items()
        )
        or "none"
    )
    raise Invalid(
        f"{folder.name} has MLflow flavours {found}; modelplane imports {SUPPORTED} (pickle can run any "
        "code when loaded): save it with mlflow.onnx or with mlflow.sklearn.log_model(..., "
        "serialization_format='skops')"
    )
