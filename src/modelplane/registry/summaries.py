"""One summary row per model for listings (the console's Models page): counts and newest numbers from a
few grouped queries, never each version's artifacts or lineage (100 models of 10 versions read in
milliseconds, where `list_models` builds every version's full view)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select

from modelplane.store import Store
from modelplane.store.orm import Alias, ModelVersion, RegisteredModel


@dataclass(frozen=True)
class ModelSummary:
    name: str
    task: str
    versions: int
    latest: int | None
    updated_at: datetime
    aliases: dict[str, int] = field(default_factory=dict)


def model_summaries(store: Store, *, offset: int = 0, limit: int = 100) -> tuple[list[ModelSummary], int]:
    """Live models by name, `limit` from `offset`, and how many there are in all."""
    live = RegisteredModel.deleted_at.is_(None)
    with store.db.session() as session:
        total = session.scalar(select(func.count()).select_from(RegisteredModel).where(live)) or 0
        models = session.execute(
            select(RegisteredModel.id, RegisteredModel.name, RegisteredModel.task, RegisteredModel.created_at)
            .where(live)
            .order_by(RegisteredModel.name)
            .offset(offset)
            .limit(limit)
        ).all()
        ids = [m.id for m in models]
        counts = {
            row.model_id: row
            for row in session.execute(
                select(
                    ModelVersion.model_id,
                    func.count().label("n"),
                    func.max(ModelVersion.version).label("latest"),
                    func.max(ModelVersion.created_at).label("newest"),
                )
                .where(ModelVersion.model_id.in_(ids), ModelVersion.deleted_at.is_(None))
                .group_by(ModelVersion.model_id)
            )
        }
        aliases: dict[int, dict[str, int]] = {}
        moved: dict[int, datetime] = {}
        for model_id, alias, version, at in session.execute(
            select(Alias.model_id, Alias.name, ModelVersion.version, Alias.updated_at)
            .join(ModelVersion, ModelVersion.id == Alias.version_id)
            .where(Alias.model_id.in_(ids))
            .order_by(Alias.name)
        ):
            aliases.setdefault(model_id, {})[alias] = version
            moved[model_id] = max(moved.get(model_id, at), at)
        out = []
        for m in models:
            found = counts.get(m.id)
            stamps = [
                m.created_at,
                *([found.newest] if found else []),
                *([moved[m.id]] if m.id in moved else []),
            ]
            out.append(
                ModelSummary(
                    name=m.name,
                    task=m.task,
                    versions=int(found.n) if found else 0,
                    latest=int(found.latest) if found else None,
                    updated_at=max(stamps),
                    aliases=aliases.get(m.id, {}),
                )
            )
        return out, int(total)
