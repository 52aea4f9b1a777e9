"""TorchScript: a traced graph of a torch version, made once on first use and kept as its artifact."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from modelplane.errors import Invalid, NotFound
from modelplane.runtimes.adapters import ONNX_FORMAT, LoadOptions, StoredVersion
from modelplane.runtimes.base import INPUT_NAME, OUTPUT_NAMES, as_float32, check_task

TORCHSCRIPT_FORMAT = "torchscript"
# Written into TorchScript files so they describe themselves the way ONNX graphs do.
TORCHSCRIPT_METADATA = "modelplane.json"


class TorchScriptRuntime:
    """A file written by ``export_torchscript``: the graph already returns the contract's outputs."""

    platform = "pytorch_libtorch"

    def __init__(self, model: str | Path | bytes, *, device: str = "cpu") -> None:
        """`model`: the file, or its bytes (an artifact decrypted in memory)."""
        import io

        import torch

        extra = {TORCHSCRIPT_METADATA: ""}
        if isinstance(model, bytes):
            source: str | io.BytesIO = io.BytesIO(model)
            name = "the TorchScript bytes given"
        else:
            if not Path(model).is_file():
                raise NotFound(f"TorchScript file {model} does not exist; export the model first")
            source, name = str(model), str(model)
        self.module = torch.jit.load(source, map_location=device, _extra_files=extra).eval()
        if not extra[TORCHSCRIPT_METADATA]:
            raise Invalid(
                f"{name} was not written by export_torchscript (no {TORCHSCRIPT_METADATA}); re-export it"
            )
        meta = json.loads(extra[TORCHSCRIPT_METADATA])
        self.device = device
        self.task = check_task(meta["task"])
        self.input_shape: list[int] = meta["input_shape"]
        self.input_name = INPUT_NAME
        self.output_names = list(OUTPUT_NAMES[self.task])

    def predict(self, x: np.ndarray) -> dict[str, np.ndarray]:
        import torch

        with torch.inference_mode():
            out = self.module(torch.from_numpy(as_float32(x, self.input_shape)).to(self.device))
        return {name: out[name].cpu().numpy() for name in self.output_names}


class TorchScriptAdapter:
    """Traces the version the first time a deployment asks for it; a restart loads the stored trace."""

    artifact = TORCHSCRIPT_FORMAT

    def refusal(self, version: StoredVersion) -> str | None:
        if version.can_export(TORCHSCRIPT_FORMAT):
            return None
        instead = "onnxruntime or native" if version.has_artifact(ONNX_FORMAT) else "native"
        return (
            f"{version.ref} is a {version.framework} model, which cannot be traced to TorchScript (torch "
            f"models can); use runtime {instead}"
        )

    def make_artifact(self, version: StoredVersion, path: Path) -> None:
        version.export(TORCHSCRIPT_FORMAT, path)

    def load(self, version: StoredVersion, options: LoadOptions) -> TorchScriptRuntime:
        return TorchScriptRuntime(version.artifact_bytes(TORCHSCRIPT_FORMAT))


ADAPTER = TorchScriptAdapter()
