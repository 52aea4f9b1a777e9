"""Retention per model: keep the newest N versions, retire older ones that nothing holds.

Applied in the transaction that registers a new version (so a model never holds more than N + the held
ones for longer than one registration) and again by `gc` (after a deployment or job let go of an old one).
A deployed, parent or job-held version is always kept; an aliased one is kept only with `keep_aliased` —
without it, retiring the version removes the alias as well (recorded in the alias history).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelplane.errors import Invalid
from modelplane.registry.deletion import live_model_row, model_key, retire, version_holds
from modelplane.security import audit
from modelplane.store import Store
from modelplane.store.db import serialise
from modelplane.store.orm import AliasEvent, RegisteredModel


@dataclass(frozen=True)
class Retention:
    keep_last: int
    keep_aliased: bool

    def to_dict(self) -> dict[str, object]:
        return {"keep_last": self.keep_last, "keep_aliased": self.keep_aliased}


def retention_of(model: RegisteredModel) -> Retention | None:
    return Retention(model.keep_last, model.keep_aliased) if model.keep_last is not None else None


def apply_retention(session: Session, model: RegisteredModel, *, by: str = "") -> list[str]:
    """Retire `model`'s versions beyond its newest `keep_last` that nothing holds; the refs retired.
    The caller holds the model's serialise lock."""
    policy = retention_of(model)
    if policy is None:
        return []
    session.flush()
    session.expire(model, ["versions", "aliases"])
    live = [v for v in model.versions if v.deleted_at is None]
    retired = []
    for row in live[: max(len(live) - policy.keep_last, 0)]:
        holds = version_holds(session, row)
        if any(h.kind != "alias" or policy.keep_aliased for h in holds):
            continue
        for alias in [a for a in model.aliases if a.version_id == row.id]:
            session.add(
                AliasEvent(
                    model_id=model.id, alias=alias.name, from_version=row.version, to_version=None, by=by
                )
            )
            audit.append(
                session, by, "model.alias.removed", f"{model.name}@{alias.name}", {"was": row.version}
            )
            session.delete(alias)
        retire(session, row, by=by, reason=f"retention: keep last {policy.keep_last}")
        retired.append(f"{model.name}@{row.version}")
    session.flush()
    session.expire(model, ["aliases"])
    return retired


def set_retention(
    store: Store, name: str, *, keep_last: int | None, keep_aliased: bool = False, by: str = ""
) -> tuple[Retention | None, list[str]]:
    """Store (or, with `keep_last` None, remove) `name`'s retention policy and apply it now; returns the
    policy and the versions it retired."""
    if keep_last is not None and keep_last < 1:
        raise Invalid(f"--keep-last must be at least 1, not {keep_last}; use --off to stop retention")
    with store.db.session() as session:
        serialise(session, model_key(name))
        model = live_model_row(session, name)
        model.keep_last, model.keep_aliased = keep_last, keep_aliased if keep_last is not None else False
        policy = retention_of(model)
        audit.append(session, by, "model.retention.set", name, policy.to_dict() if policy else {"off": True})
        return policy, apply_retention(session, model, by=by)


def apply_all(store: Store, *, by: str = "") -> list[str]:
    """Apply every model's retention policy (what `gc` does first); the refs retired."""
    with store.db.session() as session:
        names = session.scalars(
            select(RegisteredModel.name).where(
                RegisteredModel.keep_last.is_not(None), RegisteredModel.deleted_at.is_(None)
            )
        ).all()
    retired: list[str] = []
    for name in names:
        with store.db.session() as session:
            serialise(session, model_key(name))
            retired += apply_retention(session, live_model_row(session, name), by=by)
    return retired
