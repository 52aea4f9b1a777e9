"""`compress`: a new version of the same model, smaller by int8 quantisation, pruning or distillation.

Each new version records its source as `parent_version_id`, how it was made under `params.compression`,
the source's split under `params.split` (so `eval` scores it on the same rows), and test/validation
metrics measured through the runtime that serves it.

How versions are stored:
- quantised: framework 'onnx'; the int8 ONNX graph is both the weights and the serving file (one
  artifact). There is no float copy to drift from what is served: `eval`, serving and `export --format onnx`
  all read that graph; `load_native` and TorchScript export refuse with a message naming the parent.
  The parameter count is kept in `params.compression`, since the graph's tensors mix weights and scales.
  In mode 'weights' only the file is int8: ONNX Runtime expands the weights to float32 when it loads
  the graph, so `params.compression.compute` is 'float' (it is 'int8' for dynamic and static).
- pruned, structured: a torch version with a smaller spec (fewer units/channels) and its own weights.
- pruned, unstructured: a torch version with the parent's spec whose weights hold zeros, stored densely
  (safetensors and ONNX Runtime have no sparse format that would be smaller or faster here); `params`
  says so, and `compare` shows the deflated size, which is what the zeros do buy.
- distilled: an ordinary torch version of the student's spec.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modelplane.compression.compare import compare_versions
from modelplane.compression.distill import (
    check_settings,
    distillation_loss,
    runtime_teacher,
    student_spec,
    torch_teacher,
)
from modelplane.compression.prune import (
    check_prunable,
    layer_sizes,
    make_permanent,
    mask_smallest,
    shrink,
    sparsity,
)
from modelplane.compression.quantize import DTYPES, MODES, check_quantizable, quantize_onnx
from modelplane.compression.request import CompressRequest
from modelplane.compression.source import SourceData, SplitArrays, resolve_data
from modelplane.compression.views import CompressResult
from modelplane.errors import Invalid
from modelplane.evaluation.report import evaluate
from modelplane.models.frameworks import LOGITS, family, framework, framework_of, is_trainable, parse_spec
from modelplane.models.spec import BaseSpec
from modelplane.monitoring.profile_store import profile_quietly
from modelplane.provenance import code_version
from modelplane.registry.integrity import version_file
from modelplane.registry.loading import load_native, load_runtime
from modelplane.registry.registry import NewVersion, get_version, register, version_id
from modelplane.registry.tables import inherited_files
from modelplane.registry.views import ONNX_FRAMEWORK, ModelVersionInfo
from modelplane.runtimes.adapters import ONNX_FORMAT
from modelplane.runtimes.onnx_runtime import OnnxRuntime
from modelplane.store import Store
from modelplane.training.config import TrainConfig, parse_train_config

EpochCallback = Callable[[dict[str, float]], None]


@dataclass(frozen=True)
class _Made:
    """A compressed model ready to register."""

    framework: str
    kind: str
    spec: dict[str, Any]
    weights_path: Path
    onnx_path: Path
    params: dict[str, Any]
    metrics: dict[str, Any]


@dataclass(frozen=True)
class _Job:
    """Everything a method works from, checked."""

    store: Store
    info: ModelVersionInfo
    request: CompressRequest
    source: SourceData
    arrays: SplitArrays
    train: TrainConfig | None
    scratch: Path
    on_epoch: EpochCallback | None

    def fit(self, model: Any, spec: BaseSpec, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        """The trainer every run uses; returns the best model and what to record about the fit."""
        from modelplane.training.torch_trainer import fit_torch

        assert self.train is not None
        train, validation = self.arrays["train"], self.arrays["validation"]
        result = fit_torch(
            model,
            spec,
            self.train,
            train,
            validation,
            on_epoch=self.on_epoch,
            **kwargs,
        )
        fit = {"best_epoch": result.best_epoch, "epochs_run": len(result.history), "history": result.history}
        return result.model, fit

    def trained_version(
        self, model: Any, spec: BaseSpec, compression: dict[str, Any], fit: dict[str, Any]
    ) -> _Made:
        """Weights, a verified ONNX export and metrics, as a finished run leaves them."""
        from modelplane.training.packaging import package_version

        dataset = self.source.as_model_sees_it(self.info)
        exported = package_version(model, spec, dataset, self.arrays, self.scratch)
        assert exported.onnx_path is not None  # pruned and distilled models' frameworks require ONNX
        trained = {"train": self.train.model_dump(mode="json")} if self.train is not None else {}
        params = {"compression": compression, **trained}
        spec_data = spec.model_dump(mode="json")
        metrics = {**exported.metrics, **fit}
        framework_name = family(spec.kind).framework
        return _Made(
            framework_name, spec.kind, spec_data, exported.weights_path, exported.onnx_path, params, metrics
        )


def compress_version(
    store: Store,
    ref: str,
    request: CompressRequest,
    *,
    by: str = "",
    on_epoch: EpochCallback | None = None,
) -> CompressResult:
    """Check everything that can be checked, then compress `ref`, register the result and compare it."""
    method = request.method
    info, train, source, student = check_compression(store, ref, request)
    arrays = source.arrays(store, info)
    with tempfile.TemporaryDirectory(dir=store.artifacts.tmp_dir) as scratch:
        job = _Job(store, info, request, source, arrays, train, Path(scratch), on_epoch)
        if method == "quantize":
            made = _quantized(job)
        elif student is None:
            made = _pruned(job)
        else:
            made = _distilled(job, student)
        version = register(
            store,
            NewVersion(
                model_name=info.model,
                task=info.task,
                framework=made.framework,
                kind=made.kind,
                spec=made.spec,
                weights_path=made.weights_path,
                params={**made.params, "split": source.split.to_dict()},
                metrics=made.metrics,
                classes=info.classes,
                onnx_path=made.onnx_path,
                dataset_version_id=source.dataset_version_id,
                parent_version_id=version_id(store, info.ref),
                code_version=code_version(),
                files=inherited_files(store, info),
            ),
            by=by,
        )
    profile_quietly(store, version.ref)
    return CompressResult(version, compare_versions(store, [info.ref, version.ref]))


def check_compression(
    store: Store, ref: str, request: CompressRequest
) -> tuple[ModelVersionInfo, TrainConfig | None, SourceData, BaseSpec | None]:
    """Every check that needs no compute (a job runs these when it is submitted, so bad input fails then):
    the version, the method's settings, the data, and the student spec of a distillation."""
    method = request.method
    info = get_version(store, ref)
    if method == "quantize":
        _check_quantize(info, request)
    elif method == "prune":
        assert request.prune is not None
        check_prunable(info, request.prune, structured=request.option("structured"))
    train = _train_config(info, request, method)
    source = resolve_data(store, info, request.data)
    student = None
    if method == "distill":
        assert request.distill is not None
        check_settings(request.option("temperature"), request.option("alpha"))
        student = student_spec(request.distill, info, source.dataset)
    return info, train, source, student


def _check_quantize(info: ModelVersionInfo, request: CompressRequest) -> None:
    if request.quantize not in DTYPES:
        raise Invalid(f"cannot quantise to {request.quantize!r}; supported: {', '.join(DTYPES)}")
    if request.option("mode") not in MODES:
        raise Invalid(f"unknown quantisation mode {request.mode!r}; use one of {', '.join(MODES)}")
    if request.option("calibration_rows") < 1:
        raise Invalid("--calibration-rows must be at least 1")
    check_quantizable(info)


def _train_config(info: ModelVersionInfo, request: CompressRequest, method: str) -> TrainConfig | None:
    """The source's training settings with the request's epochs and overrides; None when nothing trains."""
    if method == "quantize":
        if request.train:
            raise Invalid("quantisation trains nothing; remove the training settings")
        return None
    flag, least = ("--finetune-epochs", 0) if method == "prune" else ("--epochs", 1)
    epochs = request.option(flag[2:].replace("-", "_"))
    if epochs < least:
        raise Invalid(f"{flag} must be at least {least}, got {epochs}")
    if epochs == 0:
        if request.train:
            raise Invalid("pruning with --finetune-epochs 0 trains nothing; remove the training settings")
        return None
    # The device the source trained on says nothing about this machine: pick one here unless told.
    source = {**info.params.get("train", {}), "device": "auto"}
    return parse_train_config({**source, "epochs": epochs, **request.train})


def _quantized(job: _Job) -> _Made:
    info, request = job.info, job.request
    mode = request.option("mode")
    calibration = None
    if mode == "static":
        # A seeded sample, not the first rows: a dataset sorted by class would calibrate on one class.
        x_train = job.arrays["train"][0]
        picked = np.random.default_rng(job.source.split.seed).permutation(len(x_train))
        calibration = x_train[np.sort(picked[: request.option("calibration_rows")])]
    path = job.scratch / "model.int8.onnx"
    with version_file(job.store, info, ONNX_FORMAT) as parent_onnx:  # in memory where encrypted
        quantized = quantize_onnx(
            parent_onnx,
            path,
            mode=mode,
            task=info.task,
            rows=job.arrays["validation"][0],
            calibration=calibration,
            per_channel=request.option("per_channel"),
            scratch=job.scratch,
        )
        parent = OnnxRuntime(parent_onnx)
    runtime = OnnxRuntime(path)
    metrics = _evaluated(runtime, job.arrays, info)
    metrics["agreement_with_parent"] = _agreement(parent, runtime, job.arrays["test"][0])
    counts = sparsity(load_native(job.store, info))
    compression = {
        "method": "quantize",
        "source": info.ref,
        "dtype": request.quantize,
        "mode": mode,
        "compute": "float" if mode == "weights" else "int8",
        "per_channel": request.option("per_channel"),
        "calibration_rows": len(calibration) if calibration is not None else None,
        "int8_tensors": quantized.int8_tensors,
        "folded_normalization": quantized.folded,
        "parameters": counts["parameters"],
        "nonzero_parameters": counts["nonzero_parameters"],
        "storage": _int8_storage(mode),
    }
    return _Made(ONNX_FRAMEWORK, info.kind, info.spec, path, path, {"compression": compression}, metrics)


def _int8_storage(mode: str) -> str:
    stored = "the int8 ONNX graph is both the weights and the serving file; there is no torch form"
    if mode != "weights":
        return stored
    return (
        f"{stored}. Only the file is int8: ONNX Runtime expands the weights to float32 when it loads the "
        "graph, so runtime memory and compute are the float parent's (less the input standardisation, "
        "folded into the first layer at load where the graph allows)"
    )


def _evaluated(runtime: OnnxRuntime, arrays: SplitArrays, info: ModelVersionInfo) -> dict[str, Any]:
    x_test, y_test = arrays["test"]
    x_val, y_val = arrays["validation"]
    test = evaluate(runtime, x_test, y_test, task=info.task, class_names=info.classes)
    validation = evaluate(runtime, x_val, y_val, task=info.task, class_names=info.classes, latency_samples=0)
    return {"test": test.metrics, "validation": validation.metrics, "latency_ms": test.latency}


def _agreement(parent: OnnxRuntime, child: OnnxRuntime, x: np.ndarray) -> dict[str, float]:
    """How far the int8 outputs are from the float ones on the test rows (quantisation error, measured)."""
    before, after = parent.predict(x), child.predict(x)
    values = "probabilities" if "probabilities" in before else "prediction"
    out = {"max_abs_diff": float(np.max(np.abs(before[values] - after[values]), initial=0.0))}
    if "label" in before:
        out["label_agreement"] = float(np.mean(before["label"] == after["label"]))
    return out


def _pruned(job: _Job) -> _Made:
    amount, structured = job.request.prune, job.request.option("structured")
    assert amount is not None
    model = load_native(job.store, job.info)
    spec = parse_spec(job.info.spec)
    before = layer_sizes(model)
    masks: list[Any] = []
    if structured:
        model, spec = shrink(model, spec, amount)
    else:
        masks = mask_smallest(model, amount)
    fit: dict[str, Any] = {}
    if job.train is not None:
        # normalize=False: keep the parent's feature statistics, which its weights were trained with.
        model, fit = job.fit(model, spec.model_copy(update={"normalize": False}))
    make_permanent(masks)
    compression = {
        "method": "prune",
        "source": job.info.ref,
        "amount": amount,
        "structured": structured,
        "finetune_epochs": job.request.option("finetune_epochs"),
        "layer_sizes": {"before": before, "after": layer_sizes(model)},
        **sparsity(model),
        "storage": (
            "smaller layers: the spec, weights and ONNX file shrink"
            if structured
            else "dense: removed weights are stored as zeros, so the files are as large as the parent's and "
            "inference is as fast; use --structured or --quantize to make them smaller"
        ),
    }
    return job.trained_version(model, spec, compression, fit)


def _distilled(job: _Job, student: BaseSpec) -> _Made:
    info, request, train = job.info, job.request, job.train
    assert train is not None  # a student trains for at least one epoch
    if is_trainable(info.framework) and LOGITS in framework(info.framework).capabilities:
        teacher_model = load_native(job.store, info)
        teacher = torch_teacher(teacher_model)
        teacher_parameters: int | None = sum(p.numel() for p in teacher_model.parameters())
    else:  # an int8 graph or a model without logits (scikit-learn) teaches through its runtime
        teacher = runtime_teacher(load_runtime(job.store, info, preprocessing=False), info.task)
        teacher_parameters = info.params.get("compression", {}).get("parameters")
    temperature, alpha = request.option("temperature"), request.option("alpha")
    loss = distillation_loss(teacher, task=info.task, temperature=temperature, alpha=alpha)
    model, fit = job.fit(framework_of(student).build(student, seed=train.seed), student, loss=loss)
    counts = sparsity(model)
    compression = {
        "method": "distill",
        "source": info.ref,
        "student": request.student_name(),
        "temperature": temperature,
        "alpha": alpha,
        "epochs": train.epochs,
        "parameters": counts["parameters"],
        "nonzero_parameters": counts["nonzero_parameters"],
        "teacher_parameters": teacher_parameters,
    }
    return job.trained_version(model, student, compression, fit)
