"""Deleting dataset versions (or a whole dataset), refused while anything still reads them.

A dataset version is held by the runs trained on it (and the live model versions they registered), the
versions appended to it, a retrain policy watching its dataset (the newest version, or the whole dataset),
and a queued or running job that reads it (a compression's data, a retraining's new rows, a study's data).
Rows are removed, not marked: a dataset version is not signed lineage the way a model version is, and
every row that could name it refuses the delete (runs, live versions) or loses the link (retired versions,
retrain firings). So a number freed by deleting the newest version may be given to the next one added, and
a dataset deleted whole can be added again from 1. Its files become garbage for `gc` (registry/gc.py).
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from modelplane.data.catalog import dataset_key, find_version_row
from modelplane.errors import Conflict, NotFound
from modelplane.jobs.views import QUEUED, RUNNING
from modelplane.refs import Ref
from modelplane.security import audit
from modelplane.store import Store
from modelplane.store.db import serialise
from modelplane.store.orm import (
    Dataset,
    DatasetVersion,
    Job,
    ModelVersion,
    RetrainFiring,
    RetrainPolicy,
    Run,
)

_SHOWN = 5  # holders of one kind named in a refusal; the rest are counted


def _named(kind: str, names: list[str], release: str) -> list[str]:
    if not names:
        return []
    more = f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else ""
    return [f"{kind} {', '.join(names[:_SHOWN])}{more} ({release})"]


def _job_reads(session: Session, job: Job, row: DatasetVersion, studies: dict[str, str]) -> bool:
    """Whether the queued or running `job` reads dataset version `row` (its runs are checked apart);
    `studies`: an active tune job's id -> its study's data."""
    if job.kind == "compress":
        data = (job.params.get("request") or {}).get("data")
        return isinstance(data, str) and _means(session, data, row)
    if job.kind == "retrain":
        firing = session.get(RetrainFiring, int(job.params.get("firing", 0)))
        return firing is not None and firing.dataset_version_id == row.id
    if job.kind == "tune":
        return _means(session, studies.get(job.id, ""), row)
    return False


def _active_study_data(store: Store) -> dict[str, str]:
    """The data each queued or running tune job's study reads (read from Optuna's storage, so only
    where such a job exists)."""
    with store.db.session() as session:
        jobs = session.scalars(select(Job).where(Job.kind == "tune", Job.state.in_((QUEUED, RUNNING)))).all()
        studies = {j.id: str(j.params.get("study", "")) for j in jobs}
    if not studies:
        return {}
    from modelplane.tuning.catalog import get_study

    found = {}
    for job_id, name in studies.items():
        try:
            found[job_id] = get_study(store, name).data
        except NotFound:
            continue
    return found


def _means(session: Session, ref: str, row: DatasetVersion) -> bool:
    if not ref:
        return False
    try:
        return find_version_row(session, Ref.parse(ref, "dataset")).id == row.id
    except NotFound:
        return False


def holders(session: Session, row: DatasetVersion, *, whole: bool, studies: dict[str, str]) -> list[str]:
    """What holds dataset version `row`, each with how to release it (`whole`: its dataset goes too, so
    its own appended versions do not count and a policy watching the dataset does)."""
    name = row.dataset.name
    versions = session.scalars(
        select(ModelVersion).where(
            ModelVersion.dataset_version_id == row.id, ModelVersion.deleted_at.is_(None)
        )
    ).all()
    found = _named(
        "model version",
        [f"{v.model.name}@{v.version}" for v in versions],
        "delete it first: `modelplane models delete NAME@VERSION`",
    )
    runs = session.scalars(select(Run.id).where(Run.dataset_version_id == row.id).order_by(Run.id)).all()
    found += _named("run", list(runs), "trained on it; delete it first: `modelplane runs delete RUN`")
    children = session.scalars(select(DatasetVersion).where(DatasetVersion.parent_id == row.id)).all()
    if not whole:
        found += _named(
            "appended version",
            [f"{name}@{c.version}" for c in children],
            f"delete it first: `modelplane data delete {name}@VERSION`",
        )
    newest = row.dataset.versions[-1].id == row.id
    policies = session.scalars(select(RetrainPolicy.model).where(RetrainPolicy.dataset == name)).all()
    if whole or newest:
        found += _named(
            "the retrain policy of",
            list(policies),
            "it watches this dataset; remove it: `modelplane retrain-policy delete MODEL`",
        )
    jobs = session.scalars(select(Job).where(Job.state.in_((QUEUED, RUNNING)))).all()
    found += _named(
        "job",
        [f"{j.id} ({j.state} {j.kind})" for j in jobs if _job_reads(session, j, row, studies)],
        "wait for it or cancel it: `modelplane jobs cancel JOB`",
    )
    return found


def _remove(session: Session, row: DatasetVersion, *, by: str) -> None:
    """Drop the row and the links retired rows keep to it (callers checked its holders)."""
    session.execute(
        update(ModelVersion).where(ModelVersion.dataset_version_id == row.id).values(dataset_version_id=None)
    )
    session.execute(
        update(RetrainFiring)
        .where(RetrainFiring.dataset_version_id == row.id)
        .values(dataset_version_id=None)
    )
    session.execute(
        update(RetrainPolicy)
        .where(RetrainPolicy.last_seen_dataset_version_id == row.id)
        .values(last_seen_dataset_version_id=None)
    )
    audit.append(
        session,
        by,
        "dataset.version.deleted",
        f"{row.dataset.name}@{row.version}",
        {"hash": row.content_hash},
    )
    session.delete(row)
    session.flush()


def delete_dataset(store: Store, ref: str, *, by: str = "") -> list[str]:
    """Delete `NAME@VERSION`, or with a bare `NAME` the whole dataset (every version, then the name);
    refused, with nothing deleted, while anything holds one. Returns the refs deleted."""
    parsed = Ref.parse(ref, "dataset")
    studies = _active_study_data(store)
    with store.db.session() as session:
        serialise(session, dataset_key(parsed.name))
        if parsed.selector is not None:
            rows = [find_version_row(session, parsed)]
            dataset: Dataset | None = rows[0].dataset
        else:
            dataset = session.scalar(select(Dataset).where(Dataset.name == parsed.name))
            if dataset is None:
                raise NotFound(
                    f"dataset '{parsed.name}' does not exist; list them with `modelplane data list`"
                )
            rows = list(reversed(dataset.versions))  # appended versions before their parents
        problems = [
            p for r in rows for p in holders(session, r, whole=parsed.selector is None, studies=studies)
        ]
        if problems:
            raise Conflict(f"{ref} is still in use — {'; '.join(dict.fromkeys(problems))}")
        deleted = [f"{r.dataset.name}@{r.version}" for r in rows]
        for row in rows:
            _remove(session, row, by=by)
        if parsed.selector is None and dataset is not None:
            audit.append(session, by, "dataset.deleted", parsed.name, {"versions": deleted})
            session.delete(dataset)
        return deleted
