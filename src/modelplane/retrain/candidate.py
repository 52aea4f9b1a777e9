"""Making a candidate and judging it: fine-tune production (torch: a warm start from its registered weights,
its normalisation statistics kept) or refit it from scratch (scikit-learn), then score candidate and
production through the runtimes that serve them, on the same test rows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelplane.evaluation.report import evaluate
from modelplane.models.spec import ModelSpec, parse_spec
from modelplane.registry.loading import load_runtime
from modelplane.registry.views import ModelVersionInfo
from modelplane.retrain.data import RetrainData
from modelplane.retrain.settings import PolicySettings
from modelplane.store import Store
from modelplane.training.config import TrainConfig, parse_train_config
from modelplane.training.export_version import ExportedVersion

EpochCallback = Callable[[dict[str, float]], None]
LR_FACTOR = 0.25


def finetune_config(production: ModelVersionInfo, settings: PolicySettings) -> TrainConfig | None:
    """Production's own training settings with the policy's epochs and learning rate; None for a
    scikit-learn model, which is refitted as it was first fitted.

    Without a policy learning rate, a quarter of production's: fine-tuning nudges weights that already
    fit, and at full rate the first steps of a fresh optimiser knock them further off than the few new
    rows can teach back (digits +20% rows, three random arrival orders: 0.74 pt below a model trained
    from scratch at the full rate, 0.12 pt at a quarter; see bench/retrain.py)."""
    if production.framework != "torch":
        return None
    # The device production trained on says nothing about this machine: pick one here.
    source = {**production.params.get("train", {}), "device": "auto", "epochs": settings.epochs}
    base = parse_train_config(source)
    return base.model_copy(update={"lr": settings.lr if settings.lr is not None else base.lr * LR_FACTOR})


@dataclass(frozen=True)
class Fitted:
    model: Any
    spec: ModelSpec
    config: TrainConfig | None
    best_epoch: int
    epochs_run: int


def fit_candidate(
    store: Store,
    production: ModelVersionInfo,
    data: RetrainData,
    config: TrainConfig | None,
    *,
    checkpoints: Path,
    on_epoch: EpochCallback,
) -> Fitted:
    """Train on `data.arrays["train"]`, pick the best epoch on the validation split. With `checkpoints`, an
    attempt that died resumes from its last epoch."""
    spec = parse_spec(production.spec)
    train, validation = data.arrays["train"], data.arrays["validation"]
    if config is not None:
        from safetensors.torch import load_file

        from modelplane.models.torch_zoo import build_torch_model
        from modelplane.training.checkpoints import CheckpointDir
        from modelplane.training.torch_trainer import fit_torch

        weights = load_file(str(store.artifacts.verified_path(production.weights_sha)))
        result = fit_torch(
            build_torch_model(spec, seed=config.seed),
            spec,
            config,
            train,
            validation,
            checkpointer=CheckpointDir(checkpoints),
            on_epoch=on_epoch,
            progress=False,
            initial_weights=weights,
        )
        return Fitted(result.model, spec, config, result.best_epoch, len(result.history))
    from modelplane.training.sklearn_trainer import fit_sklearn

    seed = int(production.params.get("train", {}).get("seed", 0))
    fitted = fit_sklearn(spec, train, validation, seed=seed)
    for entry in fitted.history:
        on_epoch(entry)
    return Fitted(fitted.model, spec, None, fitted.best_epoch, len(fitted.history))


def reused_graph(
    store: Store, production: ModelVersionInfo, fitted: Fitted, scratch: Path, rows: Any
) -> Path | str:
    """Production's ONNX graph holding the fine-tuned weights (retrain/graph.py), checked against the
    candidate's torch model on `rows`; or why it cannot be (then the caller exports afresh)."""
    from safetensors.numpy import load_file

    from modelplane.compression.export import verify_export
    from modelplane.errors import IntegrityError
    from modelplane.retrain.graph import graph_with_weights
    from modelplane.runtimes.onnx_runtime import OnnxRuntime
    from modelplane.runtimes.torch_runtime import TorchRuntime
    from modelplane.training.export_version import ONNX_ATOL, ONNX_RTOL

    if production.onnx_sha is None:
        return f"{production.ref} has no ONNX graph to reuse"
    weights = load_file(str(store.artifacts.verified_path(production.weights_sha)))
    tuned = {k: v.detach().cpu().numpy() for k, v in fitted.model.state_dict().items()}
    path = scratch / "model.onnx"
    source = store.artifacts.verified_path(production.onnx_sha)
    why = graph_with_weights(source, weights, tuned, path)
    if why is not None:
        return why
    native = TorchRuntime(fitted.model, task=fitted.spec.task)
    try:
        verify_export(native, OnnxRuntime(path), rows, atol=ONNX_ATOL, rtol=ONNX_RTOL)
    except IntegrityError as exc:
        return f"production's graph with the new weights does not reproduce the model ({exc})"
    return path


def _candidate_runtime(fitted: Fitted, exported: ExportedVersion) -> Any:
    """What will serve the candidate: its ONNX export, else its native runtime."""
    from modelplane.runtimes.onnx_runtime import OnnxRuntime
    from modelplane.runtimes.sklearn_runtime import SklearnRuntime
    from modelplane.runtimes.torch_runtime import TorchRuntime

    if exported.onnx_path is not None:
        return OnnxRuntime(exported.onnx_path)
    if fitted.config is not None:
        return TorchRuntime(fitted.model, task=fitted.spec.task)
    return SklearnRuntime(fitted.model, task=fitted.spec.task, input_shape=fitted.spec.input_shape)


def score(
    store: Store, production: ModelVersionInfo, fitted: Fitted, exported: ExportedVersion, data: RetrainData
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Test metrics of (candidate, production) on the same rows, each through its serving runtime."""
    x, y = data.arrays["test"]

    def metrics(runtime: Any) -> dict[str, Any]:
        report = evaluate(
            runtime, x, y, task=production.task, class_names=production.classes, latency_samples=0
        )
        return report.metrics

    return metrics(_candidate_runtime(fitted, exported)), metrics(load_runtime(store, production))
