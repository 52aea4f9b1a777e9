"""Rolling a candidate that passed its gate out: `staging` moves to it, then it serves a share of traffic as
the canary of every deployment of `MODEL@production`, and when the canary's time is up `production` moves to
it and the canary is removed.

The canary phase lives in the store (the firing's state `canary` and `canary_until`), not in any process:
whichever watcher runs when the time is up promotes it, so it survives a restart. A watcher claims a due
canary (state `promoting`, with a claim that expires) before acting, so two watchers never both promote;
each step checks before it acts, so a watcher that dies half-way leaves work the next one completes. Taking
the canary off the deployment by hand aborts the rollout: production then stays where it is.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update

from modelplane.errors import NotFound
from modelplane.registry.registry import get_version, set_alias, version_id
from modelplane.registry.views import ModelVersionInfo
from modelplane.retrain.firings import actor, move
from modelplane.retrain.settings import PolicySettings, format_duration
from modelplane.retrain.views import (
    ABORTED,
    CANARY,
    PROMOTED,
    PROMOTING,
    RUNNING,
    STAGED,
    SUPERSEDED,
    FiringInfo,
    firing_view,
)
from modelplane.serving.deployments import (
    CanarySpec,
    DeploymentInfo,
    get_deployment,
    list_deployments,
    save_deployment,
)
from modelplane.store import Store
from modelplane.store.orm import RetrainFiring, utcnow

log = logging.getLogger(__name__)

CLAIM_S = 60.0


def deployments_serving(store: Store, model: str) -> list[DeploymentInfo]:
    """The deployments whose primary is `MODEL@production`: the ones a canary of `model` runs on."""
    return [d for d in list_deployments(store) if d.spec.model == f"{model}@production"]


def _alias(store: Store, candidate: ModelVersionInfo, alias: str, by: str) -> None:
    current = get_version(store, candidate.ref)
    if alias not in current.aliases:
        set_alias(store, candidate.ref, alias, by=by)


def start(store: Store, firing: FiringInfo, candidate: ModelVersionInfo, settings: PolicySettings) -> str:
    """Staging, then the canary (or production at once when the policy has none); returns the new state."""
    by = actor(firing.model)
    _alias(store, candidate, "staging", by)
    if settings.canary_percent is None or settings.canary_seconds is None:
        production = get_version(store, f"{firing.model}@production").ref
        _alias(store, candidate, "production", by)
        detail = f"gate passed, no canary: production moved from {production} to {candidate.ref}"
        return _end(store, firing.id, PROMOTED, (RUNNING,), detail, "retrain.promoted", candidate)
    deployments = deployments_serving(store, firing.model)
    if not deployments:
        detail = (
            f"gate passed; no deployment serves {firing.model}@production, so no canary ran and "
            f"{candidate.ref} waits at staging (promote it with "
            f"`modelplane models alias {candidate.ref} production`)"
        )
        return _end(store, firing.id, STAGED, (RUNNING,), detail, "retrain.staged", candidate)
    _supersede(store, firing, candidate)
    canary = CanarySpec(model=candidate.ref, percent=settings.canary_percent)
    for deployment in deployments:
        if deployment.spec.canary != canary:
            save_deployment(
                store, deployment.spec.model_copy(update={"canary": canary}), name=deployment.name, by=by
            )
    names = [d.name for d in deployments]
    until = utcnow() + timedelta(seconds=settings.canary_seconds)
    detail = (
        f"gate passed; canary {candidate.ref} takes {settings.canary_percent:g}% of {', '.join(names)} for "
        f"{format_duration(settings.canary_seconds)}, then becomes production"
    )
    with store.db.session() as session:
        move(
            session,
            firing.id,
            CANARY,
            when=(RUNNING,),
            action="retrain.canary.started",
            detail=detail,
            by=by,
            candidate_version_id=version_id(store, candidate.ref),
            deployments=names,
            canary_until=until,
        )
    return CANARY


def _end(
    store: Store,
    firing_id: int,
    state: str,
    when: tuple[str, ...],
    detail: str,
    action: str,
    candidate: ModelVersionInfo,
) -> str:
    with store.db.session() as session:
        move(
            session,
            firing_id,
            state,
            when=when,
            action=action,
            detail=detail,
            by=actor(candidate.model),
            candidate_version_id=version_id(store, candidate.ref),
        )
    return state


def _supersede(store: Store, firing: FiringInfo, candidate: ModelVersionInfo) -> None:
    """An older canary of the same model gives way: its deployments get this candidate's canary instead."""
    with store.db.session() as session:
        older = session.scalars(
            select(RetrainFiring.id).where(
                RetrainFiring.model == firing.model,
                RetrainFiring.state == CANARY,
                RetrainFiring.id != firing.id,
            )
        ).all()
        for firing_id in older:
            detail = f"superseded by {candidate.ref} (firing {firing.id}) before its canary ended"
            move(
                session,
                firing_id,
                SUPERSEDED,
                when=(CANARY,),
                action="retrain.superseded",
                detail=detail,
                by=actor(firing.model),
            )


def promote_due(store: Store, now: datetime) -> list[FiringInfo]:
    """Finish every canary whose time is up (and any a dead watcher left half-promoted)."""
    with store.db.session() as session:
        due = session.scalars(
            select(RetrainFiring.id).where(
                RetrainFiring.canary_until <= now,
                or_(
                    RetrainFiring.state == CANARY,
                    (RetrainFiring.state == PROMOTING) & (RetrainFiring.claimed_until < now),
                ),
            )
        ).all()
    finished = []
    for firing_id in due:
        if _claim(store, firing_id, now):
            finished.append(_finish(store, firing_id))
    return finished


def _claim(store: Store, firing_id: int, now: datetime) -> bool:
    with store.db.session() as session:
        claimed = session.execute(
            update(RetrainFiring)
            .where(
                RetrainFiring.id == firing_id,
                or_(
                    RetrainFiring.state == CANARY,
                    (RetrainFiring.state == PROMOTING) & (RetrainFiring.claimed_until < now),
                ),
            )
            .values(state=PROMOTING, claimed_until=now + timedelta(seconds=CLAIM_S), updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        return bool(claimed.rowcount == 1)  # type: ignore[attr-defined]


def _still_canaried(store: Store, names: list[str], candidate: str) -> list[DeploymentInfo]:
    found = []
    for name in names:
        try:
            deployment = get_deployment(store, name)
        except NotFound:
            continue
        if deployment.spec.canary is not None and deployment.spec.canary.model == candidate:
            found.append(deployment)
    return found


def _finish(store: Store, firing_id: int) -> FiringInfo:
    with store.db.session() as session:
        firing = firing_view(session, session.get_one(RetrainFiring, firing_id))
    assert firing.candidate is not None  # a firing enters `canary` with its candidate
    by = actor(firing.model)
    candidate = get_version(store, firing.candidate)
    production = get_version(store, f"{firing.model}@production")
    carrying = _still_canaried(store, firing.deployments, candidate.ref)
    if not carrying and production.ref != candidate.ref:
        detail = (
            f"the canary of {candidate.ref} was taken off {', '.join(firing.deployments)} before it ended; "
            f"production stays at {production.ref}"
        )
        state, action = ABORTED, "retrain.aborted"
    else:
        _alias(store, candidate, "production", by)
        for deployment in carrying:
            save_deployment(
                store, deployment.spec.model_copy(update={"canary": None}), name=deployment.name, by=by
            )
        detail = (
            f"canary ended: production moved from {production.ref} to {candidate.ref}"
            if production.ref != candidate.ref
            else f"canary ended: production is {candidate.ref}"
        )
        state, action = PROMOTED, "retrain.promoted"
    with store.db.session() as session:
        move(
            session,
            firing_id,
            state,
            when=(PROMOTING,),
            action=action,
            detail=detail,
            by=by,
            claimed_until=None,
        )
        log.info("retrain of %s: %s", firing.model, detail)
        return firing_view(session, session.get_one(RetrainFiring, firing_id))
