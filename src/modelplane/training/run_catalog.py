"""Runs from the store: found by id (or a unique prefix) or newest first, as the views users see.

Apart from the trainer, so listing and showing runs (the CLI, the API, the console) never imports torch.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelplane.errors import NotFound
from modelplane.store import Store
from modelplane.store.orm import DatasetVersion, Experiment, ModelVersion, Run, RunArtifact
from modelplane.training.run_views import RunInfo
from modelplane.training.tracking_store import TRACKED, step_history


def find_run_row(session: Session, run_id: str) -> Run:
    """The run with this id, or the only one whose id starts with it."""
    row = session.get(Run, run_id)
    if row is None:
        matches = session.scalars(select(Run).where(Run.id.startswith(run_id))).all() if run_id else []
        if len(matches) != 1:
            raise NotFound(f"run '{run_id}' not found; list runs with `modelplane runs list`")
        row = matches[0]
    return row


def get_run(store: Store, run_id: str) -> RunInfo:
    with store.db.session() as session:
        return run_view(session, find_run_row(session, run_id))


def list_runs(store: Store, *, limit: int = 50, model: str | None = None) -> list[RunInfo]:
    with store.db.session() as session:
        query = select(Run).order_by(Run.started_at.desc()).limit(limit)
        if model:
            query = query.where(Run.model_name == model)
        return [run_view(session, r) for r in session.scalars(query)]


def run_view(session: Session, row: Run) -> RunInfo:
    dataset = session.get(DatasetVersion, row.dataset_version_id) if row.dataset_version_id else None
    epochs: dict[int, dict[str, float]] = {}
    for metric in row.epochs:
        epochs.setdefault(metric.epoch, {"epoch": float(metric.epoch)})[metric.name] = metric.value
    tracked = row.kind == TRACKED
    experiment = session.get(Experiment, row.experiment_id) if row.experiment_id is not None else None
    artifacts = session.scalars(
        select(RunArtifact.path).where(RunArtifact.run_id == row.id).order_by(RunArtifact.path)
    ).all()
    version = session.scalar(select(ModelVersion).where(ModelVersion.run_id == row.id))
    return RunInfo(
        id=row.id,
        status=row.status,
        model_name=row.model_name,
        kind=row.kind,
        dataset=f"{dataset.dataset.name}@{dataset.version}"
        if dataset
        else (_inputs(row) if tracked else "?"),
        spec=dict(row.spec),
        config=dict(row.config),
        split=dict(row.split),
        metrics=dict(row.metrics),
        history=step_history(session, row.id) if tracked else [epochs[e] for e in sorted(epochs)],
        model_version=f"{version.model.name}@{version.version}" if version else None,
        code_version=row.code_version,
        error=row.error,
        started_at=row.started_at,
        finished_at=row.finished_at,
        duration_s=row.duration_s,
        created_by=row.created_by,
        name=row.name,
        experiment=experiment.name if experiment else None,
        params=dict(row.params or {}),
        tags=dict(row.tags or {}),
        artifacts=[_within(row, path) for path in artifacts],
    )


def _within(row: Run, path: str) -> str:
    """An artifact path as the run's own (`plots/a.png`), or its logged model's (`models/m-.../MLmodel`)."""
    own = f"{row.experiment_id or 0}/{row.id}/artifacts/"
    return path.removeprefix(own) if path.startswith(own) else path.partition("/")[2]


def _inputs(row: Run) -> str:
    """A tracked run's data as MLflow logged it: each dataset's name and short digest."""
    used = (row.inputs or {}).get("dataset_inputs", [])
    return ", ".join(f"{d['dataset']['name']}#{str(d['dataset']['digest'])[:8]}" for d in used)
