"""Firings: recording that a policy fired (exactly once per dataset version or schedule tick), queueing its
job, and moving the firing through its states with an audit entry for each move.

Exactly once: a firing is recorded in one transaction that first advances the policy with a conditional
UPDATE (`last_seen_dataset_version_id` or `next_fire_at` still holding what this watcher read), then inserts
the firing under a unique `dedupe` key. Of several watchers (servers, workers) that see the same new
version, one advances the policy; the others update zero rows and stop, and the unique key catches anything
that slips past. The job is queued right after, under an id the firing already names; a watcher that died
in between leaves a firing without a job, which any watcher queues later (`resubmit_orphans`).
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from modelplane.errors import Conflict, NotFound
from modelplane.jobs.queue import enqueue, new_job_id
from modelplane.refs import Ref
from modelplane.retrain.settings import PolicySettings, settings_of
from modelplane.retrain.views import ACTIVE, QUEUED, FiringInfo, firing_view
from modelplane.security import audit
from modelplane.store import Store
from modelplane.store.orm import Job, RetrainFiring, RetrainPolicy, utcnow

log = logging.getLogger(__name__)

ORPHAN_AFTER_S = 10.0


def actor(model: str) -> str:
    """Who the audit ledger names for what a policy does on its own."""
    return f"retrain-policy:{model}"


def record(
    store: Store,
    model: str,
    *,
    trigger: str,
    reason: str,
    dedupe: str,
    dataset_version_id: int,
    by: str,
    advance: tuple[tuple[ColumnElement[bool], ...], dict[str, Any]] | None = None,
) -> FiringInfo | None:
    """Record one firing of `model`'s policy and queue its job; None when another watcher recorded it (or
    advanced the policy past it) first. `advance`: the policy's (conditions, new values)."""
    job_id = new_job_id()
    try:
        with store.db.session() as session:
            if advance is not None:
                conditions, values = advance
                moved = session.execute(
                    update(RetrainPolicy)
                    .where(RetrainPolicy.model == model, *conditions)
                    .values(**values)
                    .execution_options(synchronize_session=False)
                )
                if moved.rowcount != 1:  # type: ignore[attr-defined]
                    return None
            policy = session.scalar(select(RetrainPolicy).where(RetrainPolicy.model == model))
            if policy is None:
                return None
            row = RetrainFiring(
                model=model,
                dedupe=dedupe,
                trigger=trigger,
                reason=reason,
                settings=settings_of(policy).to_dict(),
                dataset_version_id=dataset_version_id,
                job_id=job_id,
                state=QUEUED,
                result={},
                deployments=[],
                created_by=by,
            )
            session.add(row)
            session.flush()
            details = {"firing": row.id, "trigger": trigger, "reason": reason, "job": job_id}
            audit.append(session, by, "retrain.fired", model, details)
            info = firing_view(session, row)
    except IntegrityError:
        with store.db.session() as session:
            if session.scalar(select(RetrainFiring.id).where(RetrainFiring.dedupe == dedupe)) is None:
                raise
        return None
    _submit(store, info)
    return info


def _submit(store: Store, firing: FiringInfo) -> None:
    """Queue the firing's job under the id it names; a second submission of it is a no-op."""
    settings = PolicySettings(**firing.settings)
    try:
        enqueue(
            store,
            "retrain",
            {"firing": firing.id, "model": firing.model},
            by=firing.created_by,
            total=settings.epochs,
            unit="epochs",
            note=f"retrain {firing.model}: {firing.reason}",
            job_id=firing.job_id,
        )
    except IntegrityError:
        log.info("retrain job %s of firing %d was queued already", firing.job_id, firing.id)


def trigger_now(store: Store, model: str, *, by: str) -> FiringInfo:
    """A manual retrain of `model` on the newest version of its policy's dataset.

    A version no firing has claimed yet is claimed here the way the new-data trigger claims it (the same
    conditional UPDATE of `last_seen_dataset_version_id`, the same `dedupe` key), so `retrain MODEL` right
    after an append and a watcher that sees the append make one job between them, whoever comes first.
    A version already retrained on fires again only by hand: that is a deliberate re-run."""
    from modelplane.retrain.policies import production_of

    production_of(store, model)
    with store.db.session() as session:
        policy = session.scalar(select(RetrainPolicy).where(RetrainPolicy.model == model))
        if policy is None:
            raise NotFound(
                f"model '{model}' has no retrain policy to run; set one with "
                f"`modelplane retrain-policy set {model} --data DATASET`"
            )
        busy = _active(session, model)
        if busy is not None:
            raise Conflict(
                f"a retrain of {model} is already {busy.state} (job {busy.job_id}); follow it with "
                f"`modelplane jobs logs {busy.job_id} --follow`"
            )
        from modelplane.data.catalog import find_version_row  # numpy and pyarrow: not at worker start

        dataset = find_version_row(session, Ref.parse(policy.dataset, "dataset"))
        dataset_id, ref = dataset.id, f"{policy.dataset}@{dataset.version}"
        seen = policy.last_seen_dataset_version_id
    claim = None
    dedupe = f"{model}:manual:{uuid.uuid4().hex}"
    if seen is None or dataset_id > seen:
        still = RetrainPolicy.last_seen_dataset_version_id
        claim = (
            (still.is_(None) if seen is None else still == seen,),
            {"last_seen_dataset_version_id": dataset_id},
        )
        dedupe = new_data_dedupe(model, dataset_id)
    fired = record(
        store,
        model,
        trigger="manual",
        reason=f"run by {by or 'unknown'} on {ref}",
        dedupe=dedupe,
        dataset_version_id=dataset_id,
        by=by,
        advance=claim,
    )
    if fired is not None:
        return fired
    with store.db.session() as session:  # a watcher fired for this version (or a newer one) meanwhile
        same = session.scalar(select(RetrainFiring).where(RetrainFiring.dedupe == dedupe))
        found = same or _active(session, model)
        if found is not None:
            return firing_view(session, found)
    raise NotFound(f"the retrain policy of '{model}' was deleted meanwhile; set it again")


def new_data_dedupe(model: str, dataset_version_id: int) -> str:
    """The one firing a dataset version gets, whether the new-data trigger or `retrain MODEL` fires it."""
    return f"{model}:data:{dataset_version_id}"


def _active(session: Session, model: str) -> RetrainFiring | None:
    return session.scalar(
        select(RetrainFiring)
        .where(RetrainFiring.model == model, RetrainFiring.state.in_(ACTIVE))
        .order_by(RetrainFiring.id.desc())
        .limit(1)
    )


def resubmit_orphans(store: Store, now: datetime) -> int:
    """Queue the jobs of firings whose watcher died between recording them and queueing the job."""
    with store.db.session() as session:
        rows = session.scalars(
            select(RetrainFiring).where(
                RetrainFiring.state == QUEUED,
                RetrainFiring.created_at < now - timedelta(seconds=ORPHAN_AFTER_S),
                ~exists().where(Job.id == RetrainFiring.job_id),
            )
        ).all()
        found = [firing_view(session, row) for row in rows]
    for firing in found:
        log.warning("firing %d of %s had no job; queueing job %s", firing.id, firing.model, firing.job_id)
        _submit(store, firing)
    return len(found)


def move(
    session: Session,
    firing_id: int,
    state: str,
    *,
    when: tuple[str, ...],
    action: str,
    detail: str | None = None,
    by: str,
    **values: Any,
) -> bool:
    """Move the firing to `state` if it is in one of `when` (the database decides races), with an audit
    entry `action` in the same transaction; False when it was elsewhere."""
    moved = session.execute(
        update(RetrainFiring)
        .where(RetrainFiring.id == firing_id, RetrainFiring.state.in_(when))
        .values(state=state, detail=detail, updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        return False
    model = session.scalar(select(RetrainFiring.model).where(RetrainFiring.id == firing_id))
    audit.append(session, by, action, str(model), {"firing": firing_id, "state": state, "detail": detail})
    return True


def get_firing(store: Store, firing_id: int) -> FiringInfo:
    with store.db.session() as session:
        row = session.get(RetrainFiring, firing_id)
        if row is None:
            raise NotFound(
                f"retrain firing {firing_id} not found; see `modelplane retrain-policy show MODEL`"
            )
        return firing_view(session, row)
