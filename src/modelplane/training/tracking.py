"""`with platform.runs.start("name") as run:` — your own training code, tracked like modelplane's runs.

`TrackedRun` holds what the handle does the same way in-process and over HTTP (step counters, the `with`
block's ending, which files a folder uploads); `LocalRun` writes through the store, the client's handle
(client/tracking.py) through the REST routes. `register` imports a model the run logged (the import contract,
registry/imports.py) with lineage to the run.
"""

from __future__ import annotations

import tempfile
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelplane.errors import Invalid, NotFound
from modelplane.store import Store
from modelplane.store.orm import Run
from modelplane.training import tracking_artifacts as files
from modelplane.training import tracking_store as tracking
from modelplane.training.tracking_store import MetricPoint

if TYPE_CHECKING:
    from modelplane.registry.views import ModelVersionInfo
    from modelplane.training.run_views import RunInfo


class TrackedRun(ABC):
    """The RunHandle (platform.py) over a transport; subclasses send logs, files, the end, registrations."""

    def __init__(self, run_id: str) -> None:
        self._id = run_id
        self._next_step: dict[str, int] = {}
        self._ended = False  # by `end()` inside the block: leaving the block keeps that status

    @property
    def id(self) -> str:
        return self._id

    def log_metric(self, key: str, value: float, *, step: int | None = None) -> None:
        self.log_metrics({key: value}, step=step)

    def log_metrics(self, metrics: Mapping[str, float], *, step: int | None = None) -> None:
        points = []
        for key, value in metrics.items():
            at = self._next_step.get(key, 0) if step is None else int(step)
            self._next_step[key] = at + 1
            points.append(MetricPoint(key, value, at, tracking.now_ms()))
        self._log(points, {}, {})

    def log_param(self, key: str, value: Any) -> None:
        self._log([], {key: value}, {})

    def log_params(self, params: Mapping[str, Any]) -> None:
        self._log([], dict(params), {})

    def set_tag(self, key: str, value: Any) -> None:
        self._log([], {}, {key: value})

    def log_artifact(self, path: str | Path, *, artifact_path: str | None = None) -> str:
        source = Path(path)
        if source.is_dir():
            base = files.upload_name(source, artifact_path)
            for item in sorted(p for p in source.rglob("*") if p.is_file()):
                self._upload(f"{base}/{item.relative_to(source).as_posix()}", item)
            return base
        if not source.is_file():
            raise NotFound(f"{source} does not exist; log a file or a folder that exists")
        name = files.upload_name(source, artifact_path)
        self._upload(name, source)
        return name

    def register_model(
        self,
        name: str,
        model: str | Path,
        *,
        task: str | None = None,
        classes: Sequence[str] | None = None,
    ) -> ModelVersionInfo:
        local = Path(model)
        artifact = self.log_artifact(local, artifact_path="model") if local.exists() else str(model)
        return self._register(name, artifact, task, list(classes) if classes is not None else None)

    def __enter__(self) -> TrackedRun:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self._ended:
            return
        if exc_type is None:
            self._end("succeeded", None)
        else:
            stopped = issubclass(exc_type, KeyboardInterrupt)
            self._end("interrupted" if stopped else "failed", repr(exc)[:2000])

    def end(self, status: str = "succeeded") -> RunInfo:
        info = self._end(status, None)
        self._ended = status != "running"
        return info

    @abstractmethod
    def info(self) -> RunInfo: ...

    @abstractmethod
    def _log(self, metrics: list[MetricPoint], params: dict[str, Any], tags: dict[str, Any]) -> None: ...

    @abstractmethod
    def _upload(self, artifact: str, source: Path) -> None: ...

    @abstractmethod
    def _register(
        self, name: str, artifact: str, task: str | None, classes: list[str] | None
    ) -> ModelVersionInfo: ...

    @abstractmethod
    def _end(self, status: str, error: str | None) -> RunInfo: ...


class LocalRun(TrackedRun):
    def __init__(self, store: Store, run_id: str, by: str) -> None:
        super().__init__(run_id)
        self._store, self._by = store, by

    def info(self) -> RunInfo:
        from modelplane.training.run_catalog import get_run

        return get_run(self._store, self.id)

    def _log(self, metrics: list[MetricPoint], params: dict[str, Any], tags: dict[str, Any]) -> None:
        log_run(self._store, self.id, metrics=metrics, params=params, tags=tags)

    def _upload(self, artifact: str, source: Path) -> None:
        upload(self._store, self.id, artifact, source)

    def _register(
        self, name: str, artifact: str, task: str | None, classes: list[str] | None
    ) -> ModelVersionInfo:
        return register(self._store, self.id, artifact, name, task=task, classes=classes, by=self._by)

    def _end(self, status: str, error: str | None) -> RunInfo:
        return end_run(self._store, self.id, status, error=error)


def start(
    store: Store,
    name: str | None,
    *,
    experiment: str | None = None,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    by: str = "",
) -> str:
    """A new tracked run's id (status `running`)."""
    with store.db.session() as session:
        found = tracking.resolve_experiment(session, experiment, by=by)
        return tracking.create_run(session, found, name=name, params=params, tags=tags, by=by).id


def log_run(
    store: Store,
    run_id: str,
    *,
    metrics: Sequence[MetricPoint] = (),
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
) -> None:
    with store.db.session() as session:
        tracking.log(
            session, tracking.tracked_run(session, run_id), metrics=metrics, params=params, tags=tags
        )


def end_run(store: Store, run_id: str, status: str, *, error: str | None = None) -> RunInfo:
    from modelplane.training.run_catalog import get_run

    with store.db.session() as session:
        tracking.end(session, tracking.tracked_run(session, run_id), status, error=error)
    return get_run(store, run_id)


def _run_row(store: Store, run_id: str) -> Run:
    with store.db.session() as session:
        row = session.get(Run, run_id)
        if row is None or row.kind != tracking.TRACKED:
            raise NotFound(f"tracked run '{run_id}' not found; start one with runs.start")
        session.expunge(row)
        return row


def upload(store: Store, run_id: str, artifact: str, source: Path | bytes) -> str:
    """Store a file at `artifact` (a path within the run); returns that path."""
    artifact = files.clean_path(artifact)
    files.put_file(store, f"{files.run_root(_run_row(store, run_id))}/{artifact}", source)
    return artifact


def register(
    store: Store,
    run_id: str,
    artifact: str,
    name: str,
    *,
    task: str | None = None,
    classes: list[str] | None = None,
    by: str = "",
) -> ModelVersionInfo:
    """Import the run's artifact `artifact` (a file, or an MLflow model folder) as a version of `name`."""
    return register_from(
        store,
        run_id,
        f"{files.run_root(_run_row(store, run_id))}/{files.clean_path(artifact)}",
        name,
        task=task,
        classes=classes,
        by=by,
    )


def register_from(
    store: Store,
    run_id: str | None,
    path: str,
    name: str,
    *,
    task: str | None = None,
    classes: list[str] | None = None,
    by: str = "",
) -> ModelVersionInfo:
    """Import the stored artifact file or folder at `path` (a full artifact path) as a version of `name`;
    the run, when given, is its lineage and takes the model's name."""
    from modelplane.registry.imports import ImportOptions, import_model

    path = files.clean_path(path)
    options = ImportOptions(task=task, classes=tuple(classes) if classes else None, run_id=run_id)
    with tempfile.TemporaryDirectory(prefix="modelplane-register-") as tmp:
        tree = Path(tmp) / "model"
        if files.files_under(store, path):  # a folder (an MLflow model), else one file
            local = files.materialise(store, path, tree)
        else:
            local = tree.with_name(path.rsplit("/", 1)[-1])
            try:
                local.write_bytes(files.read_file(store, path))
            except NotFound:
                raise Invalid(f"the run logged nothing at {path!r}; log the model file first") from None
        version = import_model(store, name, local, options, by=by)
    if run_id is not None:
        with store.db.session() as session:
            row = session.get(Run, run_id)
            if row is not None and not row.model_name:
                row.model_name = name
    return version
