"""Which kind of model a path holds, from its content (zip members, MLmodel) before its name."""

from __future__ import annotations

import zipfile
from pathlib import Path

from modelplane.errors import Invalid, NotFound

ONNX, SKOPS, TORCHSCRIPT, SAFETENSORS, MLFLOW = "onnx", "skops", "torchscript", "safetensors", "mlflow"
FORMATS = (ONNX, SKOPS, TORCHSCRIPT, SAFETENSORS, MLFLOW)
_WHAT = (
    "an ONNX file, a skops file, a TorchScript file, a folder with safetensors weights and a modelplane "
    "spec JSON, or an MLflow model folder (with an MLmodel file)"
)


def detect(path: Path) -> str:
    """One of FORMATS; Invalid naming what is accepted where the path is none of them."""
    path = Path(path)
    if not path.exists():
        raise NotFound(f"no such file or folder: '{path}'; check the path")
    if path.is_dir():
        if (path / "MLmodel").is_file():
            return MLFLOW
        if any(path.glob("*.safetensors")):
            return SAFETENSORS
        raise Invalid(f"{path.name} is a folder without an MLmodel file or safetensors weights; give {_WHAT}")
    if path.suffix == ".safetensors":
        raise Invalid(
            f"{path.name} holds weights without their model: give a folder with the .safetensors file and "
            "its modelplane spec JSON (spec.json)"
        )
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
        if "schema.json" in names:
            return SKOPS
        if any(n.endswith("/data.pkl") or n == "data.pkl" for n in names) and any(
            "/code/" in n for n in names
        ):
            return TORCHSCRIPT
        if any(n.endswith("MLmodel") for n in names):
            raise Invalid(f"{path.name} is a zipped MLflow model; unzip it and import the folder")
        raise Invalid(f"{path.name} is a zip archive that is neither skops nor TorchScript; give {_WHAT}")
    if path.suffix in (".pt", ".pth", ".pkl", ".joblib", ".pickle"):
        raise Invalid(
            f"{path.name} is a pickle, which can run any code when loaded, so modelplane does not load it; "
            "save the model with skops (scikit-learn), torch.jit.save (TorchScript), safetensors or ONNX"
        )
    return ONNX
