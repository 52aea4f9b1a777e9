"""The scikit-learn framework adapter: Pipelines (scaling + the family's estimator) fitted in one shot, stored
with skops (only scikit-learn's own types are trusted on load), exported to ONNX where skl2onnx can."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelplane.errors import Invalid
from modelplane.models.frameworks import Arrays, EpochCallback, Fitted, Framework, HistoryCallback
from modelplane.models.spec import BaseSpec

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

    from modelplane.runtimes.base import Runtime
    from modelplane.training.config import TrainConfig

SAFE_TYPE_PREFIXES = ("sklearn.", "numpy.", "scipy.", "builtins.")


class SklearnFramework:
    name: str = "sklearn"
    title: str = "scikit-learn"
    weights_format: str = "skops"
    trains_in_epochs: bool = False
    warm_starts: bool = False
    onnx_required: bool = False
    capabilities: frozenset[str] = frozenset()
    parallelism: str = (
        "one process: random_forest already grows its trees on every core (n_jobs=-1) and gbdt uses every "
        "core through OpenMP; logreg and svm fit on one"
    )
    default_space: Mapping[str, Any] = {}

    def build(self, spec: BaseSpec, *, seed: int) -> Pipeline:
        from modelplane.models.sklearn_zoo import build_estimator

        return build_estimator(spec, seed=seed)

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
        """One fit, reported as one epoch; `checkpoints` and `warm_start` do not apply."""
        from modelplane.training.sklearn_trainer import fit_sklearn

        result = fit_sklearn(spec, train, validation, seed=config.seed)
        for entry in result.history:
            if on_epoch is not None:
                on_epoch(entry)
        return Fitted(result.model, result.history, result.best_epoch)

    def save_weights(self, model: Pipeline, folder: Path) -> Path:
        import skops.io as sio

        path = folder / "model.skops"
        sio.dump(model, path)
        return path

    def load_weights(self, spec: BaseSpec, path: Path, *, ref: str) -> Pipeline:
        import skops.io as sio

        untrusted = sio.get_untrusted_types(file=path)
        unsafe = [t for t in untrusted if not t.startswith(SAFE_TYPE_PREFIXES)]
        if unsafe:
            raise Invalid(
                f"{ref} holds types that are not scikit-learn's ({', '.join(unsafe)}); refusing to load"
            )
        return sio.load(path, trusted=untrusted)

    def export_onnx(self, model: Pipeline, spec: BaseSpec, path: Path) -> Path:
        from modelplane.models.sklearn_export import export_sklearn_onnx

        return export_sklearn_onnx(model, task=spec.task, input_shape=spec.input_shape, path=path)

    def export_torchscript(self, model: Pipeline, spec: BaseSpec, path: Path) -> Path:
        raise Invalid(f"a scikit-learn {spec.kind} model has no TorchScript form; use --format onnx")

    def native_runtime(self, model: Pipeline, spec: BaseSpec) -> Runtime:
        from modelplane.runtimes.sklearn_runtime import SklearnRuntime

        return SklearnRuntime(model, task=spec.task, input_shape=spec.input_shape)

    def count_parameters(self, model: Pipeline) -> tuple[int, int] | None:
        return None


FRAMEWORK: Framework = SklearnFramework()
