"""Tracked runs in-process: `LocalRun` (the handle `Local.runs.start` returns) and the functions it and the
REST routes write through. `register` imports a model the run logged (the import contract,
registry/imports.py) with lineage to the run."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelplane.errors import Invalid, NotFound
from modelplane.store import Store
from modelplane.store.orm import Run
from modelplane.training import tracking_artifacts as files
from modelplane.training import tracking_store as tracking
from modelplane.training.run_handle import MetricPoint, TrackedRun

if TYPE_CHECKING:
    from modelplane.registry.views import ModelVersionInfo
    from modelplane.training.run_views import RunInfo


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
