"""The torch framework adapter: the zoo's networks (and any registered torch family), fitted epoch by epoch,
stored as safetensors, exported to ONNX and TorchScript, compressible."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelplane.models.frameworks import (
    DATA_PARALLEL,
    DISTILL_STUDENT,
    LOGITS,
    PRUNE,
    QUANTIZE,
    TORCHSCRIPT,
    Arrays,
    EpochCallback,
    Fitted,
    Framework,
    HistoryCallback,
)
from modelplane.models.spec import BaseSpec

if TYPE_CHECKING:
    from torch import nn

    from modelplane.runtimes.base import Runtime
    from modelplane.training.config import TrainConfig


class TorchFramework:
    name: str = "torch"
    title: str = "torch"
    weights_format: str = "safetensors"
    trains_in_epochs: bool = True
    warm_starts: bool = True
    onnx_required: bool = True
    capabilities: frozenset[str] = frozenset(
        {TORCHSCRIPT, QUANTIZE, PRUNE, DISTILL_STUDENT, LOGITS, DATA_PARALLEL}
    )
    parallelism: str = "data-parallel over --workers processes (DDP)"
    default_space: Mapping[str, Any] = {
        "lr": {"low": 1e-4, "high": 1e-1, "log": True},
        "batch_size": [32, 64, 128, 256],
        "optimizer": ["adam", "adamw", "momentum", "rmsprop", "sgd"],
        "weight_decay": {"low": 1e-6, "high": 1e-2, "log": True},
        "dropout": {"low": 0.0, "high": 0.5},
    }

    def build(self, spec: BaseSpec, *, seed: int) -> nn.Module:
        from modelplane.models.torch_zoo import build_torch_model

        return build_torch_model(spec, seed=seed)

    def fit(
        self,
        spec: BaseSpec,
        config: TrainConfig,
        train: Arrays,
        validation: Arrays,
        *,
        checkpoints: Path | None = None,
        on_epoch: EpochCallback | None = None,
        on_resume: HistoryCallback | None = None,
        warm_start: Path | None = None,
    ) -> Fitted:
        from safetensors.torch import load_file

        from modelplane.training.checkpoints import CheckpointDir
        from modelplane.training.torch_trainer import fit_torch

        model = self.build(spec, seed=config.seed)
        checkpointer = CheckpointDir(checkpoints) if checkpoints is not None else None
        initial_weights = load_file(str(warm_start)) if warm_start is not None else None
        if config.workers > 1:
            from modelplane.training.launcher import fit_torch_distributed, workers_to_use

            workers = workers_to_use(config.workers)
            if workers > 1:
                result = fit_torch_distributed(
                    model,
                    spec,
                    config,
                    train,
                    validation,
                    workers=workers,
                    checkpointer=checkpointer,
                    on_epoch=on_epoch,
                    on_resume=on_resume,
                    initial_weights=initial_weights,
                )
                return Fitted(result.model, result.history, result.best_epoch)
        result = fit_torch(
            model,
            spec,
            config,
            train,
            validation,
            checkpointer=checkpointer,
            on_epoch=on_epoch,
            on_resume=on_resume,
            initial_weights=initial_weights,
        )
        return Fitted(result.model, result.history, result.best_epoch)

    def save_weights(self, model: nn.Module, folder: Path) -> Path:
        from safetensors.torch import save_file

        path = folder / "model.safetensors"
        save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(path))
        return path

    def load_weights(self, spec: BaseSpec, path: Path, *, ref: str) -> nn.Module:
        from safetensors.torch import load_file

        module = self.build(spec, seed=0)
        module.load_state_dict(load_file(str(path)))
        return module.eval()

    def export_onnx(self, model: nn.Module, spec: BaseSpec, path: Path) -> Path:
        from modelplane.models.torch_export import export_torch_onnx

        return export_torch_onnx(model, task=spec.task, input_shape=spec.input_shape, path=path)

    def export_torchscript(self, model: nn.Module, spec: BaseSpec, path: Path) -> Path:
        from modelplane.models.torch_export import export_torchscript

        return export_torchscript(model, task=spec.task, input_shape=spec.input_shape, path=path)

    def native_runtime(self, model: nn.Module, spec: BaseSpec) -> Runtime:
        from modelplane.runtimes.torch_runtime import TorchRuntime

        return TorchRuntime(model.cpu(), task=spec.task)

    def count_parameters(self, model: nn.Module) -> tuple[int, int] | None:
        params = list(model.parameters())
        total = sum(p.numel() for p in params)
        return total, total - sum(int((p == 0).sum()) for p in params)


FRAMEWORK: Framework = TorchFramework()
