"""Deleting a study: its Optuna rows and its trials' checkpoints (each trial trains a run, whose
checkpoints sit under runs/<run id>/checkpoints). The trial runs themselves stay (`modelplane runs delete`),
as does the version its best trial registered.

Refused while the study is being searched: a queued or running tune job names it, or a trial of it is
running (a `modelplane tune` in the foreground).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import optuna
from optuna.trial import TrialState
from sqlalchemy import select

from modelplane.errors import Conflict
from modelplane.jobs.views import QUEUED, RUNNING
from modelplane.security import audit
from modelplane.store import Store
from modelplane.store.orm import Job
from modelplane.tuning.storage import RUN_ID, load_study, open_storage, storage_url, study_names


def _active_jobs(store: Store) -> dict[str, str]:
    """Study name -> the id of a queued or running tune job searching it."""
    with store.db.session() as session:
        jobs = session.scalars(select(Job).where(Job.kind == "tune", Job.state.in_((QUEUED, RUNNING))))
        return {str(j.params.get("study", "")): j.id for j in jobs}


def _checkpoints(store: Store, study: optuna.Study) -> list[Path]:
    runs = [str(t.user_attrs[RUN_ID]) for t in study.get_trials(deepcopy=False) if RUN_ID in t.user_attrs]
    return [p for r in runs if (p := store.runs_dir / r / "checkpoints").is_dir()]


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def delete_study(store: Store, name: str, *, by: str = "") -> int:
    """Delete study `name` and its trials' checkpoints; returns the checkpoint bytes freed."""
    storage = open_storage(storage_url(store))
    study = load_study(storage, name)  # NotFound for an unknown one
    job = _active_jobs(store).get(name)
    if job is not None:
        raise Conflict(
            f"study {name} is being searched by job {job}; wait for it or cancel it "
            f"(`modelplane jobs cancel {job}`)"
        )
    running = [t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))]
    if running:
        raise Conflict(
            f"study {name} has trial(s) {', '.join(map(str, running))} running; stop that `modelplane tune` "
            "(a trial whose process died is taken back within a minute), then delete it"
        )
    folders = _checkpoints(store, study)
    freed = sum(_size(f) for f in folders)
    optuna.delete_study(study_name=name, storage=storage)
    with store.db.session() as session:
        audit.append(session, by, "study.deleted", name, {"checkpoint_bytes": freed})
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
    return freed


def finished_trial_checkpoints(store: Store) -> list[Path]:
    """Checkpoint folders of the trials of studies no job searches and no trial of which runs: what `gc`
    may remove (the best trial's version is registered by then)."""
    storage = open_storage(storage_url(store))
    active = _active_jobs(store)
    found: list[Path] = []
    for name in study_names(storage):
        if name in active:
            continue
        study = load_study(storage, name)
        if study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING)):
            continue
        found += _checkpoints(store, study)
    return found
