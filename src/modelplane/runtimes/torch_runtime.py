"""An in-memory torch module as a Runtime: the native runtime of torch versions."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from modelplane.runtimes.base import INPUT_NAME, OUTPUT_NAMES, as_2d, as_float32, check_task

if TYPE_CHECKING:
    import torch


def _torch_outputs(out: torch.Tensor, task: str) -> dict[str, np.ndarray]:
    import torch

    if task == "classification":
        probabilities = torch.softmax(out.float(), dim=-1)
        return {
            "label": torch.argmax(probabilities, dim=-1).to(torch.int64).cpu().numpy(),
            "probabilities": probabilities.cpu().numpy(),
        }
    return {"prediction": as_2d(out.float().cpu().numpy())}


class TorchRuntime:
    """An ``nn.Module`` returning logits (classification) or values (regression), in eval mode."""

    platform = "torch_native"

    def __init__(self, module: torch.nn.Module, *, task: str, device: str = "cpu") -> None:
        self.task = check_task(task)
        self.device = device
        self.module = module.to(device).eval()
        self.input_name = INPUT_NAME
        self.output_names = list(OUTPUT_NAMES[task])

    def predict(self, x: np.ndarray) -> dict[str, np.ndarray]:
        import torch

        with torch.inference_mode():
            out = self.module(torch.from_numpy(as_float32(x)).to(self.device))
        return _torch_outputs(out, self.task)
