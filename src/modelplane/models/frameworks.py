"""Model frameworks and model families as registered adapters.

A *framework* (torch, scikit-learn) knows how to build, fit, save, load, export and run the models of its
families; a *family* (mlp, cnn, random_forest, ...) is a spec class and a builder registered within a
framework. Everything outside the adapters asks the registry instead of comparing framework names, so
a new family is one spec, one module and one `register_family` call, and a new framework one adapter
module and one `register_framework` call.

Adapters are named by "module:attribute" and imported on first use, like job kinds (jobs/kinds.py):
parsing a spec or listing kinds never imports torch or scikit-learn.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import ValidationError

from modelplane.errors import Invalid
from modelplane.models.spec import (
    BaseSpec,
    CNNSpec,
    GBDTSpec,
    LogRegSpec,
    MLPSpec,
    RandomForestSpec,
    RNNSpec,
    SVMSpec,
    Task,
    format_validation_error,
)

if TYPE_CHECKING:
    import numpy as np

    from modelplane.runtimes.base import Runtime
    from modelplane.training.config import TrainConfig

EpochCallback = Callable[[dict[str, float]], None]
HistoryCallback = Callable[[list[dict[str, float]]], None]
Arrays = tuple["np.ndarray", "np.ndarray"]

# What a framework may offer beyond build/fit/save/load/ONNX; compression and export ask for these by name.
TORCHSCRIPT = "torchscript"  # `modelplane export --format torchscript` and the torchscript runtime
QUANTIZE = "quantize"  # int8 quantisation of its ONNX graph (compression/quantize.py)
PRUNE = "prune"  # magnitude pruning of its weight tensors (compression/prune.py)
DISTILL_STUDENT = "distill_student"  # learns from a teacher's soft targets (compression/distill.py)
LOGITS = "logits"  # teaches through its raw logits rather than its runtime's probabilities
DATA_PARALLEL = "data_parallel"  # trains over several processes (train.workers > 1)


@dataclass(frozen=True)
class Fitted:
    """A fitted model with its per-epoch history (one entry for one-shot fits) and the epoch it keeps."""

    model: Any
    history: list[dict[str, float]]
    best_epoch: int


class Framework(Protocol):
    """The adapter a framework registers. Attributes describe it; methods do the framework's work."""

    name: str
    title: str  # how messages name it, e.g. "scikit-learn"
    weights_format: str  # the artifact format of its native weights, e.g. "safetensors", "skops"
    trains_in_epochs: bool  # fits epoch by epoch with a TrainConfig (tuning searches its training fields)
    warm_starts: bool  # a retrain fine-tunes production's weights instead of refitting from scratch
    onnx_required: bool  # a failed ONNX export fails the run; else the version is served natively
    capabilities: frozenset[str]  # TORCHSCRIPT, QUANTIZE, PRUNE, DISTILL_STUDENT, LOGITS, DATA_PARALLEL
    parallelism: str  # how one fit uses the cores (said when train.workers > 1 is refused)
    default_space: Mapping[str, Any]  # tuning search space of its families that name none of their own

    def build(self, spec: BaseSpec, *, seed: int) -> Any:
        """An untrained model for `spec`, initialised from `seed` without touching global RNG state."""
        ...

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
        """Fit a new model on `train`, choosing the kept epoch on `validation`. `checkpoints`: a folder where
        an interrupted fit resumes from; `warm_start`: stored weights to start from (when warm_starts)."""
        ...

    def save_weights(self, model: Any, folder: Path) -> Path:
        """Write the native weights (no pickle) into `folder` and return the file."""
        ...

    def load_weights(self, spec: BaseSpec, path: Path, *, ref: str) -> Any:
        """The model `save_weights` wrote, refusing anything that is not safe to load."""
        ...

    def export_onnx(self, model: Any, spec: BaseSpec, path: Path) -> Path:
        """An ONNX graph honouring the runtime contract (runtimes/base.py); Invalid if it cannot be made."""
        ...

    def export_torchscript(self, model: Any, spec: BaseSpec, path: Path) -> Path:
        """A TorchScript file honouring the runtime contract (frameworks with TORCHSCRIPT only)."""
        ...

    def native_runtime(self, model: Any, spec: BaseSpec) -> Runtime:
        """The model served in its own framework, for versions without an ONNX graph and for checks."""
        ...

    def count_parameters(self, model: Any) -> tuple[int, int] | None:
        """(parameters, nonzero parameters), or None where the framework has no comparable count."""
        ...


@dataclass(frozen=True)
class Family:
    """A model kind within a framework. `build` makes the untrained model from the spec, called as its
    framework's adapter says (torch: `build(spec)` under a seeded RNG; scikit-learn: `build(spec, seed)`
    returns the estimator): a callable or a "module:attribute" path, imported on first use so parsing
    specs stays light."""

    kind: str
    framework: str
    spec: type[BaseSpec]
    build: Callable[..., Any] | str
    tasks: tuple[Task, ...] = ("classification", "regression")
    tuning_space: Mapping[str, Any] | None = None  # None: the framework's default_space

    def builder(self) -> Callable[..., Any]:
        return _resolve(self.build) if isinstance(self.build, str) else self.build


@dataclass
class _Registry:
    frameworks: dict[str, Framework | str] = field(default_factory=dict)
    families: dict[str, Family] = field(default_factory=dict)


_REGISTRY = _Registry()


def _resolve(path: str) -> Any:
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)


def register_framework(name: str, adapter: Framework | str) -> None:
    """Register a framework adapter (or the "module:attribute" path of one) under `name`."""
    _REGISTRY.frameworks[name] = adapter


def register_family(family: Family) -> None:
    """Register a model family; its framework must be registered and its spec's `kind` must match."""
    if family.framework not in _REGISTRY.frameworks:
        raise Invalid(
            f"family {family.kind!r} names framework {family.framework!r}, which is not registered; "
            f"register it first (known: {', '.join(_REGISTRY.frameworks)})"
        )
    _REGISTRY.families[family.kind] = family


def unregister_family(kind: str) -> None:
    """Remove a family (tests and plug-ins that register one for a while)."""
    _REGISTRY.families.pop(kind, None)


def model_kinds() -> tuple[str, ...]:
    return tuple(_REGISTRY.families)


def kinds_of(framework: str) -> tuple[str, ...]:
    return tuple(kind for kind, fam in _REGISTRY.families.items() if fam.framework == framework)


def frameworks_with(capability: str) -> tuple[str, ...]:
    """The registered frameworks offering `capability` (one of the names above, e.g. PRUNE)."""
    return tuple(name for name in _REGISTRY.frameworks if capability in framework(name).capabilities)


def check_workers(spec: BaseSpec, workers: int) -> None:
    """Refuse train.workers > 1 for a framework without DATA_PARALLEL, before any compute is spent."""
    adapter = framework_of(spec)
    if workers > 1 and DATA_PARALLEL not in adapter.capabilities:
        parallel = [kind for name in frameworks_with(DATA_PARALLEL) for kind in kinds_of(name)]
        raise Invalid(
            f"{spec.kind} is a {adapter.title} model, which trains in {adapter.parallelism}; drop --workers "
            f"(train.workers), or use a family that trains data-parallel: {', '.join(parallel)}"
        )


def is_trainable(framework: str) -> bool:
    """Whether versions of `framework` have weights a run can fit or refit (an ONNX-only graph has not)."""
    return framework in _REGISTRY.frameworks


def family(kind: str) -> Family:
    found = _REGISTRY.families.get(kind)
    if found is None:
        raise Invalid(f"unknown model kind {kind!r}; choose one of {', '.join(model_kinds())}")
    return found


def framework(name: str) -> Framework:
    """The adapter registered as `name`, imported on first use."""
    adapter = _REGISTRY.frameworks.get(name)
    if adapter is None:
        raise Invalid(f"unknown framework {name!r}; the frameworks are {', '.join(_REGISTRY.frameworks)}")
    if isinstance(adapter, str):
        adapter = _resolve(adapter)
        _REGISTRY.frameworks[name] = adapter
    return adapter


def framework_of(spec: BaseSpec) -> Framework:
    return framework(family(spec.kind).framework)


def parse_spec(data: Mapping[str, Any]) -> BaseSpec:
    """Validate a mapping into its family's spec, raising Invalid with a message naming field and fix."""
    if not isinstance(data, Mapping):
        raise Invalid(f"invalid model spec: expected a mapping of fields, got {type(data).__name__}")
    kind = data.get("kind")
    if kind not in _REGISTRY.families:
        shown = "field 'kind': " + (f"unknown kind {kind!r}" if kind is not None else "missing; add it")
        raise Invalid(f"invalid model spec: {shown}; set kind to one of {', '.join(model_kinds())}")
    fam = _REGISTRY.families[kind]
    try:
        spec = fam.spec.model_validate(dict(data))
    except ValidationError as exc:
        raise Invalid(format_validation_error("model spec", exc)) from None
    if spec.task not in fam.tasks:
        raise Invalid(
            f"invalid model spec: field 'task': {kind} does not do {spec.task}; "
            f"it does {', '.join(fam.tasks)}"
        )
    return spec


def default_spec(
    kind: str,
    *,
    task: Task,
    input_shape: Sequence[int],
    num_outputs: int,
    image_shape: Sequence[int] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> BaseSpec:
    """The spec a user gets by naming only a kind; `image_shape` goes to families whose spec reads one."""
    fam = family(kind)
    if overrides and "kind" in overrides:
        raise Invalid("overrides must not set 'kind'; pass the kind as the first argument")
    data: dict[str, Any] = {
        "kind": kind,
        "task": task,
        "input_shape": list(input_shape),
        "num_outputs": num_outputs,
    }
    if image_shape is not None and "image_shape" in fam.spec.model_fields:
        data["image_shape"] = list(image_shape)
    data.update(overrides or {})
    return parse_spec(data)


register_framework("torch", "modelplane.models.torch_framework:FRAMEWORK")
register_framework("sklearn", "modelplane.models.sklearn_framework:FRAMEWORK")
for _kind, _spec, _build in (
    ("mlp", MLPSpec, "modelplane.models.torch_zoo:MLP"),
    ("cnn", CNNSpec, "modelplane.models.torch_zoo:CNN"),
    ("lstm", RNNSpec, "modelplane.models.torch_zoo:RecurrentNet"),
    ("gru", RNNSpec, "modelplane.models.torch_zoo:RecurrentNet"),
):
    register_family(Family(_kind, "torch", _spec, _build))
register_family(
    Family(
        "logreg",
        "sklearn",
        LogRegSpec,
        "modelplane.models.sklearn_zoo:logistic_regression",
        tasks=("classification",),
        tuning_space={"C": {"low": 1e-3, "high": 1e2, "log": True}},
    )
)
register_family(
    Family(
        "random_forest",
        "sklearn",
        RandomForestSpec,
        "modelplane.models.sklearn_zoo:random_forest",
        tuning_space={
            "n_estimators": {"low": 50, "high": 400, "log": True},
            "max_depth": {"low": 2, "high": 32, "log": True},
            "min_samples_leaf": {"low": 1, "high": 8},
        },
    )
)
register_family(
    Family(
        "svm",
        "sklearn",
        SVMSpec,
        "modelplane.models.sklearn_zoo:svm",
        tuning_space={
            "C": {"low": 1e-2, "high": 1e3, "log": True},
            "gamma": {"low": 1e-4, "high": 1.0, "log": True},
        },
    )
)
register_family(
    Family(
        "gbdt",
        "sklearn",
        GBDTSpec,
        "modelplane.models.sklearn_zoo:gradient_boosting",
        tuning_space={
            "learning_rate": {"low": 0.01, "high": 0.3, "log": True},
            "n_estimators": {"low": 50, "high": 400, "log": True},
            "max_depth": {"low": 2, "high": 8},
        },
    )
)
