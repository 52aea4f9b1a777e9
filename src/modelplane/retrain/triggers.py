"""The automatic triggers: a new version of a watched dataset, and a schedule's tick. Each check is a query
or two; `firings.record` makes sure each version or tick fires once whoever runs the check."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from modelplane.retrain.cron import parse_cron
from modelplane.retrain.firings import actor, new_data_dedupe, record
from modelplane.retrain.views import FiringInfo
from modelplane.store import Store
from modelplane.store.orm import Dataset, DatasetVersion, RetrainPolicy


def data_fingerprint(store: Store) -> tuple[object, ...]:
    """Changes whenever a dataset version or a policy is added or changed: the new-data check's cheap gate."""
    with store.db.session() as session:
        return (
            session.scalar(select(func.max(DatasetVersion.id))),
            *session.execute(select(func.count(), func.max(RetrainPolicy.updated_at))).one(),
        )


def fire_new_data(store: Store) -> list[FiringInfo]:
    """Fire every enabled new-data policy whose dataset has a version it has not seen. Versions added while
    no watcher ran fire once, for the newest (it holds the rows of those before it)."""
    newest = (
        select(Dataset.name, func.max(DatasetVersion.id).label("version_id"))
        .join(DatasetVersion, DatasetVersion.dataset_id == Dataset.id)
        .group_by(Dataset.name)
        .subquery()
    )
    with store.db.session() as session:
        due = session.execute(
            select(RetrainPolicy.model, RetrainPolicy.last_seen_dataset_version_id, newest.c.version_id)
            .join(newest, newest.c.name == RetrainPolicy.dataset)
            .where(RetrainPolicy.enabled.is_(True), RetrainPolicy.trigger == "new-data")
        ).all()
        refs = {
            row.id: f"{row.dataset.name}@{row.version}"
            for row in session.scalars(
                select(DatasetVersion).where(DatasetVersion.id.in_([d[2] for d in due]))
            )
        }
    fired = []
    for model, seen, latest in due:
        if seen is not None and latest <= seen:
            continue
        still = RetrainPolicy.last_seen_dataset_version_id
        condition = still.is_(None) if seen is None else still == seen
        found = record(
            store,
            model,
            trigger="new-data",
            reason=f"new dataset version {refs[latest]}",
            dedupe=new_data_dedupe(model, latest),
            dataset_version_id=latest,
            by=actor(model),
            advance=((condition, RetrainPolicy.enabled.is_(True)), {"last_seen_dataset_version_id": latest}),
        )
        if found is not None:
            fired.append(found)
    return fired


def fire_schedules(store: Store, now: datetime) -> list[FiringInfo]:
    """Fire every enabled schedule policy whose tick has come; ticks missed while no watcher ran fire once."""
    newest = select(DatasetVersion.id).join(Dataset).where(Dataset.name == RetrainPolicy.dataset)
    with store.db.session() as session:
        due = session.execute(
            select(
                RetrainPolicy.model,
                RetrainPolicy.schedule,
                RetrainPolicy.next_fire_at,
                newest.order_by(DatasetVersion.version.desc()).limit(1).scalar_subquery(),
            ).where(
                RetrainPolicy.enabled.is_(True),
                RetrainPolicy.trigger == "schedule",
                RetrainPolicy.next_fire_at <= now,
            )
        ).all()
    fired = []
    for model, schedule, tick, dataset_version_id in due:
        if dataset_version_id is None:  # the dataset is gone: there is nothing to retrain on
            continue
        found = record(
            store,
            model,
            trigger="schedule",
            reason=f"schedule '{schedule}' at {tick:%Y-%m-%d %H:%M} UTC",
            dedupe=f"{model}:schedule:{tick:%Y%m%dT%H%M}",
            dataset_version_id=dataset_version_id,
            by=actor(model),
            advance=(
                (RetrainPolicy.next_fire_at == tick, RetrainPolicy.enabled.is_(True)),
                {"next_fire_at": parse_cron(schedule).next_after(now)},
            ),
        )
        if found is not None:
            fired.append(found)
    return fired
