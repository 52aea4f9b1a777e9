"""Reading events off the audit ledger: after a seq, in order, filtered to the types a caller asked for
and may see.

Visibility (what GET /api/v1/events and the Python stream return) follows the roles: an event type needs
the role action the catalogue names (admin: all; developer: registry, data, deployments, jobs, runs,
retrain, not keys or webhooks). A deployment event is also shown to a key that may predict on that
deployment, so a consumer key sees the deployments in its scope change and nothing else.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import orjson
from sqlalchemy import select

from modelplane.events.catalogue import BY_ACTION, BY_NAME, EventType
from modelplane.events.views import Event
from modelplane.security.principal import Principal
from modelplane.security.roles import PERMISSIONS
from modelplane.store import Store
from modelplane.store.orm import AuditEntry, AuditHead

_DEPLOYMENT = ("deployment.saved", "deployment.deleted", "alert.firing", "alert.resolved")


def visible(principal: Principal, kind: EventType, target: str) -> bool:
    granted = PERMISSIONS[principal.role]
    if kind.needs in granted:
        return True
    if kind.name in _DEPLOYMENT and "predict" in granted:
        return not principal.deployments or target in principal.deployments
    return False


def as_event(row: AuditEntry, kind: EventType) -> Event:
    return Event(row.seq, kind.name, row.at, row.actor, row.target, orjson.loads(row.details))


def head_seq(store: Store) -> int:
    with store.db.session() as session:
        return session.scalar(select(AuditHead.seq).where(AuditHead.id == 1)) or 0


def read_events(
    store: Store,
    principal: Principal,
    *,
    after: int = 0,
    types: tuple[str, ...] = (),
    limit: int = 500,
) -> tuple[list[Event], int]:
    """Events after ledger seq `after` the principal may see (of `types`, or all), oldest first, and the
    last seq scanned (the next `after`: entries that are not events are skipped for good)."""
    actions = [BY_NAME[t].action for t in types] if types else list(BY_ACTION)
    with store.db.session() as session:
        scanned = session.scalar(
            select(AuditEntry.seq).where(AuditEntry.seq > after).order_by(AuditEntry.seq.desc()).limit(1)
        )
        rows = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.seq > after, AuditEntry.action.in_(actions))
            .order_by(AuditEntry.seq)
            .limit(limit)
        ).all()
    found = [as_event(r, BY_ACTION[r.action]) for r in rows]
    events = [e for e in found if visible(principal, BY_NAME[e.type], e.target)]
    if len(rows) == limit:  # more may follow: resume after the last one read, not the newest entry
        return events, rows[-1].seq
    return events, max(after, scanned or 0, rows[-1].seq if rows else 0)


def recent_events(
    store: Store,
    principal: Principal,
    *,
    types: tuple[str, ...] = (),
    after: int | None = None,
    limit: int = 50,
) -> list[Event]:
    """After `after`, the first `limit` events; without it, the newest `limit`; oldest first either way."""
    if after is not None:
        return read_events(store, principal, after=after, types=types, limit=limit)[0]
    actions = [BY_NAME[t].action for t in types] if types else list(BY_ACTION)
    found: list[Event] = []
    before: int | None = None
    with store.db.session() as session:
        while len(found) < limit:
            query = select(AuditEntry).where(AuditEntry.action.in_(actions))
            if before is not None:
                query = query.where(AuditEntry.seq < before)
            rows = session.scalars(query.order_by(AuditEntry.seq.desc()).limit(max(limit * 2, 500))).all()
            if not rows:
                break
            for row in rows:
                kind = BY_ACTION[row.action]
                if visible(principal, kind, row.target) and len(found) < limit:
                    found.append(as_event(row, kind))
            before = rows[-1].seq
    return found[::-1]


def follow(
    store: Store,
    principal: Principal,
    *,
    types: tuple[str, ...] = (),
    last_id: int | None = None,
    poll_s: float = 0.5,
) -> Iterator[Event]:
    """Events after `last_id` (or after now: this call, not the first `next`) as they are appended, until
    the caller stops iterating."""
    start = head_seq(store) if last_id is None else last_id
    return _tail(store, principal, types, start, poll_s)


def _tail(
    store: Store, principal: Principal, types: tuple[str, ...], after: int, poll_s: float
) -> Iterator[Event]:
    while True:
        events, after = read_events(store, principal, after=after, types=types)
        yield from events
        if not events:
            time.sleep(poll_s)
