"""Making a candidate and judging it: fine-tune production (torch: a warm start from its registered weights,
its normalisation statistics kept) or refit it from scratch (scikit-learn), then score candidate and
production through the runtimes that serve them, on the same test rows."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelplane.evaluation.report import evaluate
from modelplane.models.frameworks import Fitted, framework, parse_spec
from modelplane.registry.integrity import version_bytes, version_file
from modelplane.registry.loading import load_runtime
from modelplane.registry.views import ModelVersionInfo, weights_format
from modelplane.retrain.data import RetrainData
from modelplane.retrain.settings import PolicySettings
from modelplane.runtimes.adapters import ONNX_FORMAT
from modelplane.runtimes.base import Runtime
from modelplane.store import Store
from modelplane.training.config import TrainConfig, parse_train_config
from modelplane.training.packaging import PackagedVersion

EpochCallback = Callable[[dict[str, float]], None]
LR_FACTOR = 0.25


def retrain_config(production: ModelVersionInfo, settings: PolicySettings) -> TrainConfig:
    """Production's own training settings; for a framework that warm-starts, with the policy's epochs and
    learning rate (the others are refitted as they were first fitted).

    Without a policy learning rate, a quarter of production's: fine-tuning nudges weights that already
    fit, and at full rate the first steps of a fresh optimiser knock them further off than the few new
    rows can teach back (digits +20% rows, three random arrival orders: 0.74 pt below a model trained
    from scratch at the full rate, 0.12 pt at a quarter; see bench/retrain.py)."""
    # The device production trained on says nothing about this machine: pick one here.
    source = {**production.params.get("train", {}), "device": "auto"}
    if not framework(production.framework).warm_starts:
        return parse_train_config(source)
    base = parse_train_config({**source, "epochs": settings.epochs})
    return base.model_copy(update={"lr": settings.lr if settings.lr is not None else base.lr * LR_FACTOR})


def fit_candidate(
    store: Store,
    production: ModelVersionInfo,
    data: RetrainData,
    config: TrainConfig,
    *,
    checkpoints: Path,
    on_epoch: EpochCallback,
) -> Fitted:
    """Train on `data.arrays["train"]`, pick the best epoch on the validation split: a warm start from
    production's weights where its framework warm-starts (an attempt that died resumes from its last
    epoch in `checkpoints`), else a fit from scratch."""
    adapter = framework(production.framework)
    with ExitStack() as stack:
        warm_start = None
        if adapter.warm_starts:  # in memory where encrypted
            warm_start = stack.enter_context(
                version_file(store, production, weights_format(production.framework))
            )
        return adapter.fit(
            parse_spec(production.spec),
            config,
            data.arrays["train"],
            data.arrays["validation"],
            checkpoints=checkpoints,
            on_epoch=on_epoch,
            warm_start=warm_start,
        )


@dataclass(frozen=True)
class GraphNotReused:
    """Why production's ONNX graph cannot carry the candidate's weights; the caller exports afresh."""

    reason: str


def reused_graph(
    store: Store, production: ModelVersionInfo, fitted: Fitted, scratch: Path, rows: Any
) -> Path | GraphNotReused:
    """Production's ONNX graph holding the fine-tuned weights (retrain/graph.py), checked against the
    candidate's torch model on `rows`; or why it cannot be (then the caller exports afresh)."""
    from safetensors.numpy import load

    from modelplane.errors import IntegrityError
    from modelplane.models.onnx_checks import verify_export
    from modelplane.retrain.graph import graph_with_weights
    from modelplane.runtimes.onnx_runtime import OnnxRuntime
    from modelplane.training.packaging import ONNX_ATOL, ONNX_RTOL

    if production.onnx_sha is None:
        return GraphNotReused(f"{production.ref} has no ONNX graph to reuse")
    weights = load(version_bytes(store, production, weights_format(production.framework)))
    tuned = {k: v.detach().cpu().numpy() for k, v in fitted.model.state_dict().items()}
    path = scratch / "model.onnx"
    with version_file(store, production, ONNX_FORMAT) as source:
        why = graph_with_weights(source, weights, tuned, path)
    if why is not None:
        return GraphNotReused(why)
    native = framework(production.framework).native_runtime(fitted.model, parse_spec(production.spec))
    try:
        verify_export(native, OnnxRuntime(path), rows, atol=ONNX_ATOL, rtol=ONNX_RTOL)
    except IntegrityError as exc:
        return GraphNotReused(f"production's graph with the new weights does not reproduce the model ({exc})")
    return path


def _candidate_runtime(production: ModelVersionInfo, fitted: Fitted, packaged: PackagedVersion) -> Runtime:
    """What will serve the candidate: its ONNX export, else its native runtime."""
    from modelplane.runtimes.onnx_runtime import OnnxRuntime

    if packaged.onnx_path is not None:
        return OnnxRuntime(packaged.onnx_path)
    return framework(production.framework).native_runtime(fitted.model, parse_spec(production.spec))


def score(
    store: Store, production: ModelVersionInfo, fitted: Fitted, packaged: PackagedVersion, data: RetrainData
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Test metrics of (candidate, production) on the same rows, each through its serving runtime."""
    x, y = data.arrays["test"]

    def metrics(runtime: Any) -> dict[str, Any]:
        report = evaluate(
            runtime, x, y, task=production.task, class_names=production.classes, latency_samples=0
        )
        return report.metrics

    return metrics(_candidate_runtime(production, fitted, packaged)), metrics(
        load_runtime(store, production, preprocessing=False)
    )
