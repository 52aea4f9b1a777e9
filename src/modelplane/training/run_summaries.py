"""One page of runs as summary rows: filtered and sorted in the database, reading no metric history.

`run_catalog.list_runs` builds every run's full view (history, artifacts: several queries a run); a table of
runs over a store with thousands of them reads these instead, a fixed number of queries a page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from modelplane.errors import Invalid
from modelplane.store import Store
from modelplane.store.orm import Dataset, DatasetVersion, ModelVersion, RegisteredModel, Run

SORTS = ("started", "id", "status", "kind", "model", "dataset", "duration")
Order = Literal["asc", "desc"]


@dataclass(frozen=True)
class RunFilter:
    """What a runs table asks for; empty fields match every run."""

    status: str | None = None
    dataset: str | None = None  # NAME or NAME@VERSION
    model: str | None = None  # a model kind or a registered model's name
    text: str | None = None  # within the id, model name or run name


@dataclass(frozen=True)
class RunSummary:
    id: str
    status: str
    kind: str
    model_name: str
    name: str | None
    dataset: str | None  # NAME@VERSION
    metrics: dict[str, Any]
    model_version: str | None  # NAME@VERSION it registered
    started_at: datetime
    duration_s: float | None


@dataclass(frozen=True)
class RunPage:
    runs: list[RunSummary]
    total: int  # runs matching the filter, on every page


def run_page(
    store: Store,
    where: RunFilter,
    *,
    sort: str = "started",
    order: Order = "desc",
    offset: int = 0,
    limit: int = 100,
) -> RunPage:
    """Runs matching `where`, sorted by one of SORTS, `limit` of them from `offset`."""
    if sort not in SORTS:
        raise Invalid(f"cannot sort runs by {sort!r}; sort by one of {', '.join(SORTS)}")
    if order not in ("asc", "desc"):
        raise Invalid(f"order is 'asc' or 'desc', not {order!r}")
    columns: dict[str, tuple[Any, ...]] = {
        "started": (Run.started_at,),
        "id": (Run.id,),
        "status": (Run.status,),
        "kind": (Run.kind,),
        "model": (Run.model_name,),
        "dataset": (Dataset.name, DatasetVersion.version),
        "duration": (Run.duration_s,),
    }
    query = _filtered(
        select(
            Run.id,
            Run.status,
            Run.kind,
            Run.model_name,
            Run.name,
            Dataset.name,
            DatasetVersion.version,
            Run.metrics,
            Run.started_at,
            Run.duration_s,
        ),
        where,
    )
    ordered = [(c.asc() if order == "asc" else c.desc()).nulls_last() for c in columns[sort]]
    with store.db.session() as session:
        total = session.scalar(_filtered(select(func.count(Run.id)), where)) or 0
        rows = session.execute(query.order_by(*ordered, Run.id).offset(offset).limit(limit)).all()
        versions = _versions(session, [row[0] for row in rows])
    runs = [
        RunSummary(
            id=row[0],
            status=row[1],
            kind=row[2],
            model_name=row[3],
            name=row[4],
            dataset=f"{row[5]}@{row[6]}" if row[5] is not None else None,
            metrics=dict(row[7] or {}),
            model_version=versions.get(row[0]),
            started_at=row[8],
            duration_s=row[9],
        )
        for row in rows
    ]
    return RunPage(runs, total)


def _filtered(query: Select[Any], where: RunFilter) -> Select[Any]:
    query = query.select_from(Run).outerjoin(DatasetVersion, Run.dataset_version_id == DatasetVersion.id)
    query = query.outerjoin(Dataset, DatasetVersion.dataset_id == Dataset.id)
    if where.status:
        query = query.where(Run.status == where.status)
    if where.model:
        query = query.where(or_(Run.kind == where.model, Run.model_name == where.model))
    if where.dataset:
        name, _, version = where.dataset.partition("@")
        query = query.where(Dataset.name == name)
        if version:
            if not version.isdigit():
                raise Invalid(f"dataset {where.dataset!r}: the version after '@' is a number")
            query = query.where(DatasetVersion.version == int(version))
    if where.text:
        like = f"%{where.text.lower()}%"
        query = query.where(
            or_(
                func.lower(Run.id).like(like),
                func.lower(Run.model_name).like(like),
                func.lower(func.coalesce(Run.name, "")).like(like),
            )
        )
    return query


def _versions(session: Session, run_ids: list[str]) -> dict[str, str]:
    if not run_ids:
        return {}
    found = session.execute(
        select(ModelVersion.run_id, RegisteredModel.name, ModelVersion.version)
        .join(RegisteredModel, ModelVersion.model_id == RegisteredModel.id)
        .where(ModelVersion.run_id.in_(run_ids))
        .order_by(ModelVersion.version)
    ).all()
    return {run_id: f"{name}@{version}" for run_id, name, version in found if run_id}
