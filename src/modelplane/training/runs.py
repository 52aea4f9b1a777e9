"""A run: dataset version + spec + config -> fitted model, evaluated, exported, registered. Resumable."""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, select

from modelplane.data.catalog import DatasetVersionInfo, find_version_row, load_arrays, version_info
from modelplane.data.splits import SplitConfig, split_indices
from modelplane.errors import Conflict, Invalid
from modelplane.models.frameworks import (
    Arrays,
    EpochCallback,
    Fitted,
    HistoryCallback,
    check_workers,
    default_spec,
    family,
    framework_of,
    parse_spec,
)
from modelplane.models.spec import BaseSpec
from modelplane.monitoring.profile_store import profile_quietly
from modelplane.provenance import code_version
from modelplane.refs import Ref, check_name
from modelplane.registry.registry import NewVersion, register
from modelplane.registry.tables import PREP_FORMAT
from modelplane.security import audit
from modelplane.store import Store
from modelplane.store.orm import DatasetVersion, ModelVersion, Run, RunMetric, utcnow
from modelplane.training.config import TrainConfig
from modelplane.training.packaging import package_version
from modelplane.training.rank_lost import RankLost
from modelplane.training.run_catalog import find_run_row, get_run
from modelplane.training.run_views import RunInfo
from modelplane.training.tables import PreparedSplits, prepared_splits, write_prep
from modelplane.validation import validated

RESUMABLE = ("failed", "interrupted", "running")


class StopRun(Exception):
    """Raised by an `on_epoch` callback to end a run on purpose (a tuner pruning a trial, a stop request).

    The run is recorded with `status` and the reason instead of as a failure, then this propagates.
    """

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status


class RunConfig(BaseModel):
    """What `modelplane train` takes, flag by flag or as a YAML/JSON file (`--config run.yaml`)."""

    model_config = ConfigDict(extra="forbid")
    data: str
    model: str
    name: str | None = None
    spec: dict[str, Any] = Field(default_factory=dict)
    train: TrainConfig = Field(default_factory=lambda: TrainConfig())
    split: SplitConfig = Field(default_factory=lambda: SplitConfig())


class Fitter(Protocol):
    """Fits a run's model where it should run: by default its framework's `fit` in this process; the Ray
    backend passes one that fits on the cluster (training/ray_train.py)."""

    def __call__(
        self,
        spec: BaseSpec,
        config: TrainConfig,
        train: Arrays,
        validation: Arrays,
        *,
        checkpoints: Path | None = None,
        on_epoch: EpochCallback | None = None,
        on_resume: HistoryCallback | None = None,
    ) -> Fitted: ...


def parse_run_config(data: Mapping[str, Any]) -> RunConfig:
    return validated(RunConfig, data, "run config")


SplitArrays = dict[str, tuple[np.ndarray, np.ndarray]]


def _split_arrays(store: Store, dataset: DatasetVersionInfo, split: SplitConfig) -> SplitArrays:
    features, target = load_arrays(store, dataset)
    if target is None:
        raise Invalid(f"dataset {dataset.ref} has no target column; re-add it with --target COLUMN")
    indices = split_indices(np.asarray(target), split, stratify=dataset.task == "classification")
    return {name: (np.asarray(features[idx]), np.asarray(target[idx])) for name, idx in indices.items()}


def _training_data(
    store: Store,
    run_id: str,
    spec: BaseSpec,
    dataset: DatasetVersionInfo,
    split: SplitConfig,
    config: TrainConfig,
) -> tuple[BaseSpec, SplitArrays, PreparedSplits | None]:
    """The splits as the model learns from them. A table's preprocessing is fitted here, which fixes the
    model's input width: the spec (and the run's record of it) takes that width."""
    if dataset.columns is None:
        return spec, _split_arrays(store, dataset, split), None
    prepared = prepared_splits(store, dataset, split, config.preprocess)
    spec = parse_spec({**spec.model_dump(mode="json"), "input_shape": [prepared.prep.width]})
    with store.db.session() as session:
        row = session.get(Run, run_id)
        assert row is not None
        row.spec = spec.model_dump(mode="json")
    return spec, prepared.arrays, prepared


def _build_spec(config: RunConfig, dataset: DatasetVersionInfo) -> BaseSpec:
    if dataset.task is None:
        raise Invalid(f"dataset {dataset.ref} has no target column; re-add it with --target COLUMN")
    return default_spec(
        config.model,
        task=dataset.task,  # type: ignore[arg-type]
        input_shape=dataset.feature_shape,
        num_outputs=len(dataset.classes) if dataset.task == "classification" and dataset.classes else 1,
        image_shape=dataset.image_shape,
        overrides=config.spec,
    )


def start_run(
    store: Store,
    config: RunConfig,
    *,
    by: str = "",
    on_epoch: Callable[[dict[str, float]], None] | None = None,
) -> RunInfo:
    """Validate everything, record the run, then train; the run row tells how it ended."""
    run_id = create_run(store, config, by=by)
    return _execute(store, run_id, resume=False, on_epoch=on_epoch)


def continue_run(
    store: Store,
    run_id: str,
    *,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    fitter: Fitter | None = None,
) -> RunInfo:
    """Train and register a run created with `queued=True`, or resume one a dead process left `running`
    (or that failed or was interrupted) from its last checkpoint: what a job worker runs, since it cannot
    tell a first attempt from a retry."""
    with store.db.session() as session:
        row = find_run_row(session, run_id)
        if row.status not in ("queued", *RESUMABLE):
            raise Conflict(f"run {row.id} has {row.status}; only a queued or interrupted run can continue")
        first = row.status == "queued"
        row.status, row.error, row.finished_at = "running", None, None
        if not first:
            audit.append(session, row.created_by, "run.resumed", row.id)
        run_id = row.id
    return _execute(store, run_id, resume=not first, on_epoch=on_epoch, fitter=fitter)


def end_run(store: Store, run_id: str, status: str, reason: str) -> None:
    """Record the end of a run whose trainer is gone (its job was cancelled, or its process died); a run
    that already ended is left as it is."""
    with store.db.session() as session:
        row = find_run_row(session, run_id)
        if row.status not in ("queued", "running"):
            return
        row.status, row.error, row.finished_at = status, reason, utcnow()
        audit.append(session, row.created_by, "run.finished", row.id, {"status": status, "error": reason})


def create_run(store: Store, config: RunConfig, *, by: str = "", queued: bool = False) -> str:
    """Validate everything and record the run as running (or `queued`, for `continue_run` in a job);
    `start_run` or `fit_run` then trains it."""
    with store.db.session() as session:
        row = find_version_row(session, Ref.parse(config.data, "dataset"))
        dataset = version_info(row, row.dataset.name, None)
    spec = _build_spec(config, dataset)
    check_workers(spec, config.train.workers)
    name = check_name(config.name or f"{dataset.dataset}-{config.model}", "model")
    run_id = uuid.uuid4().hex[:12]
    with store.db.session() as session:
        session.add(
            Run(
                id=run_id,
                status="queued" if queued else "running",
                model_name=name,
                kind=config.model,
                dataset_version_id=row.id,
                spec=spec.model_dump(mode="json"),
                config=config.train.model_dump(mode="json"),
                split=config.split.to_dict(),
                code_version=code_version(),
                created_by=by,
            )
        )
        audit.append(
            session, by, "run.started", run_id, {"model": name, "kind": config.model, "data": dataset.ref}
        )
    return run_id


def fit_run(
    store: Store,
    run_id: str,
    *,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
) -> RunInfo:
    """Train a created run and score it on the validation split without registering a version.

    For searches that train many candidates: the one worth keeping becomes a version with `register_run`.
    """
    return _execute(store, run_id, resume=False, on_epoch=on_epoch, register_version=False)


def register_run(store: Store, run_id: str, *, params: Mapping[str, Any]) -> RunInfo:
    """Register the model of a run trained by `fit_run`, with `params` added to the version's params.

    A torch run's last checkpoint holds its best weights, so they are reused as they are; without one
    (an sklearn run, or a deleted folder) the run is refitted from its recorded seed, giving the same model.
    """
    with store.db.session() as session:
        row = find_run_row(session, run_id)
        if session.scalar(select(ModelVersion.id).where(ModelVersion.run_id == row.id)) is not None:
            raise Conflict(f"run {row.id} already registered a version; see `modelplane runs show {row.id}`")
        if row.status not in ("succeeded", *RESUMABLE):
            raise Conflict(f"run {row.id} has {row.status}; only a trained run can be registered")
        row.status, row.error, row.finished_at = "running", None, None
        run_id = row.id
    return _execute(store, run_id, resume=True, on_epoch=None, params=params)


def resume_run(
    store: Store,
    run_id: str,
    *,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
) -> RunInfo:
    """Continue a run from its last checkpoint (same data, spec, config and split)."""
    with store.db.session() as session:
        row = find_run_row(session, run_id)
        if row.status not in RESUMABLE:
            raise Conflict(f"run {row.id} has {row.status}; only a failed or interrupted run can be resumed")
        row.status, row.error, row.finished_at = "running", None, None
        audit.append(session, row.created_by, "run.resumed", row.id)
        run_id = row.id
    return _execute(store, run_id, resume=True, on_epoch=on_epoch)


def _record_epochs(store: Store, run_id: str, history: Sequence[Mapping[str, float]]) -> None:
    """Each epoch's metrics, replacing what an earlier attempt recorded for it."""
    with store.db.session() as session:
        for metrics in history:
            epoch = int(metrics["epoch"])
            session.execute(delete(RunMetric).where(RunMetric.run_id == run_id, RunMetric.epoch == epoch))
            session.add_all(
                RunMetric(run_id=run_id, epoch=epoch, name=k, value=float(v))
                for k, v in metrics.items()
                if k != "epoch"
            )


def _finish(
    store: Store,
    run_id: str,
    started: float,
    status: str,
    *,
    error: str | None = None,
    metrics: dict[str, Any] | None = None,
) -> None:
    with store.db.session() as session:
        row = session.get(Run, run_id)
        assert row is not None
        row.status, row.error, row.finished_at = status, error, utcnow()
        audit.append(session, row.created_by, "run.finished", run_id, {"status": status, "error": error})
        row.duration_s = (row.duration_s or 0.0) + (time.perf_counter() - started)
        if metrics is not None:
            row.metrics = metrics


def _execute(
    store: Store,
    run_id: str,
    *,
    resume: bool,
    on_epoch: Callable[[dict[str, float]], None] | None,
    register_version: bool = True,
    params: Mapping[str, Any] | None = None,
    fitter: Fitter | None = None,
) -> RunInfo:
    started = time.perf_counter()
    with store.db.session() as session:
        row = session.get(Run, run_id)
        assert row is not None
        dataset_row = session.get(DatasetVersion, row.dataset_version_id)
        assert dataset_row is not None
        dataset = version_info(dataset_row, dataset_row.dataset.name, None)
        spec, config, split = parse_spec(row.spec), TrainConfig(**row.config), SplitConfig(**row.split)
        name, dataset_version_id, code, owner = (
            row.model_name,
            row.dataset_version_id,
            row.code_version,
            row.created_by,
        )

    def record(metrics: dict[str, float]) -> None:
        _record_epochs(store, run_id, [metrics])
        if on_epoch:
            on_epoch(metrics)

    try:
        spec, arrays, prepared = _training_data(store, run_id, spec, dataset, split, config)
        fitted = _fit(store, run_id, spec, config, arrays, resume=resume, on_epoch=record, fitter=fitter)
        best_epoch, epochs_run = fitted.best_epoch, len(fitted.history)
        if not register_version:
            validation = _validation_metrics(fitted.model, spec, dataset, arrays)
            metrics = {"validation": validation, "best_epoch": best_epoch, "epochs_run": epochs_run}
            _finish(store, run_id, started, "succeeded", metrics=metrics)
            return get_run(store, run_id)
        with tempfile.TemporaryDirectory(dir=store.artifacts.tmp_dir) as scratch:
            exported = package_version(fitted.model, spec, dataset, arrays, Path(scratch))
            metrics = {**exported.metrics, "best_epoch": best_epoch, "epochs_run": epochs_run}
            files = {}
            if prepared is not None:
                files[PREP_FORMAT] = write_prep(prepared.prep, Path(scratch))
                metrics["preprocess_max_abs_diff"] = prepared.max_abs_diff
            version = register(
                store,
                NewVersion(
                    model_name=name,
                    task=spec.task,
                    framework=family(spec.kind).framework,
                    kind=spec.kind,
                    spec=spec.model_dump(mode="json"),
                    weights_path=exported.weights_path,
                    params={
                        "train": config.model_dump(mode="json"),
                        "split": split.to_dict(),
                        **(params or {}),
                    },
                    metrics=metrics,
                    classes=dataset.classes,
                    onnx_path=exported.onnx_path,
                    onnx_note=exported.onnx_note,
                    run_id=run_id,
                    dataset_version_id=dataset_version_id,
                    code_version=code,
                    files=files,
                ),
                by=owner,
            )
        _finish(store, run_id, started, "succeeded", metrics={**metrics, "model_version": version.ref})
        profile_quietly(store, version.ref)
    except StopRun as stop:
        _finish(store, run_id, started, stop.status, error=str(stop))
        raise
    except RankLost as lost:  # resumable: in a job, the process exits unfinished and the job is requeued
        _finish(
            store,
            run_id,
            started,
            "interrupted",
            error=f"{lost}; resume with `modelplane train --resume {run_id}`",
        )
        raise
    except KeyboardInterrupt:
        _finish(
            store,
            run_id,
            started,
            "interrupted",
            error=f"interrupted; resume with `modelplane train --resume {run_id}`",
        )
        raise
    except Exception as exc:
        _finish(store, run_id, started, "failed", error=f"{type(exc).__name__}: {exc}")
        raise
    return get_run(store, run_id)


def _validation_metrics(
    fitted: Any, spec: BaseSpec, dataset: DatasetVersionInfo, arrays: SplitArrays
) -> dict[str, Any]:
    """The evaluation metrics of the validation split (no export, no latency): what a search compares."""
    from modelplane.evaluation.report import evaluate

    x_val, y_val = arrays["validation"]
    classes = dataset.classes if spec.task == "classification" else None
    native = framework_of(spec).native_runtime(fitted, spec)
    report = evaluate(native, x_val, y_val, task=spec.task, class_names=classes, latency_samples=0)
    return report.metrics


def _fit(
    store: Store,
    run_id: str,
    spec: BaseSpec,
    config: TrainConfig,
    arrays: SplitArrays,
    *,
    resume: bool,
    on_epoch: Callable[[dict[str, float]], None],
    fitter: Fitter | None = None,
) -> Fitted:
    checkpoints = store.runs_dir / run_id / "checkpoints"
    if not resume and checkpoints.exists():
        for old in checkpoints.iterdir():
            old.unlink()
    fit = fitter or framework_of(spec).fit
    return fit(
        spec,
        config,
        arrays["train"],
        arrays["validation"],
        checkpoints=checkpoints,
        on_epoch=on_epoch,
        on_resume=lambda history: _record_epochs(store, run_id, history),
    )
