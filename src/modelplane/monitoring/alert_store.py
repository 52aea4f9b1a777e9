"""Alert rules in the store (add, list, remove) and the history of their firings, as users see them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from modelplane.errors import Conflict, Invalid, NotFound
from modelplane.jobs.views import aware
from modelplane.monitoring.alert_rules import parse_rule
from modelplane.security import audit
from modelplane.serving.deployments import get_deployment
from modelplane.store import Store
from modelplane.store.orm import AlertHistory, AlertRule, utcnow

USER = "user"
OK, FIRING, RESOLVED = "ok", "firing", "resolved"
MAX_HISTORY = 10_000


@dataclass(frozen=True)
class AlertRuleInfo:
    id: int
    deployment: str
    text: str
    for_windows: int
    origin: str  # "user" or "retrain:<model>"
    state: str  # ok | firing
    breaches: int  # consecutive breaching windows so far
    episode: str | None  # while firing
    created_at: datetime
    created_by: str

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "created_at": self.created_at.isoformat()}


@dataclass(frozen=True)
class AlertEvent:
    """A rule fired (`firing`) or stopped holding (`resolved`); both carry the episode they belong to."""

    id: int
    rule_id: int
    deployment: str
    version: str | None  # the served version whose window breached (or, resolving, was checked)
    rule: str
    state: str
    value: float | None  # the rule's left side
    threshold: float | None  # its right side
    episode: str
    window_end: datetime
    at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "window_end": self.window_end.isoformat(), "at": self.at.isoformat()}


def rule_view(row: AlertRule) -> AlertRuleInfo:
    return AlertRuleInfo(
        row.id,
        row.deployment,
        row.text,
        row.for_windows,
        row.origin,
        row.state,
        row.breaches,
        row.episode,
        aware(row.created_at),
        row.created_by,
    )


def event_view(row: AlertHistory) -> AlertEvent:
    return AlertEvent(
        row.id,
        row.rule_id,
        row.deployment,
        row.version,
        row.rule,
        row.state,
        row.value,
        row.threshold,
        row.episode,
        aware(row.window_end),
        aware(row.at),
    )


def add_rule(store: Store, deployment: str, text: str, *, by: str, origin: str = USER) -> AlertRuleInfo:
    """Watch `deployment` with the rule `text` (parsed now: a bad rule is refused, nothing stored)."""
    rule = parse_rule(text)
    get_deployment(store, deployment)
    try:
        with store.db.session() as session:
            row = AlertRule(
                deployment=deployment,
                text=rule.text,
                for_windows=rule.for_windows,
                origin=origin,
                breaches=0,
                state=OK,
                created_at=utcnow(),
                created_by=by,
            )
            session.add(row)
            session.flush()
            audit.append(session, by, "alert.rule.added", deployment, {"rule": row.id, "text": rule.text})
            return rule_view(row)
    except IntegrityError:
        raise Conflict(
            f"deployment '{deployment}' already has the alert rule '{rule.text}'; see "
            f"`modelplane monitor alert list {deployment}`"
        ) from None


def list_rules(store: Store, deployment: str | None = None) -> list[AlertRuleInfo]:
    """The rules of one deployment (which must exist), or of all, oldest first."""
    if deployment is not None:
        get_deployment(store, deployment)
    query = select(AlertRule).order_by(AlertRule.id)
    if deployment is not None:
        query = query.where(AlertRule.deployment == deployment)
    with store.db.session() as session:
        return [rule_view(r) for r in session.scalars(query)]


def get_rule(store: Store, rule_id: int) -> AlertRuleInfo:
    with store.db.session() as session:
        row = session.get(AlertRule, rule_id)
        if row is None:
            raise _no_rule(rule_id)
        return rule_view(row)


def remove_rule(store: Store, rule_id: int, *, by: str) -> None:
    """Stop watching with the rule; its history stays. A retrain policy's rule goes with its policy only."""
    with store.db.session() as session:
        row = session.get(AlertRule, rule_id)
        if row is None:
            raise _no_rule(rule_id)
        if row.origin != USER:
            model = row.origin.partition(":")[2]
            raise Invalid(
                f"alert rule {rule_id} belongs to the retrain policy of {model}; change the policy "
                f"(`modelplane retrain-policy set {model} ...`) or delete it to remove the rule"
            )
        session.delete(row)
        audit.append(session, by, "alert.rule.removed", row.deployment, {"rule": rule_id, "text": row.text})


def alert_history(store: Store, deployment: str | None = None, *, limit: int = 50) -> list[AlertEvent]:
    """Firings and resolutions, newest first."""
    if not 1 <= limit <= MAX_HISTORY:
        raise Invalid(f"limit {limit} is out of range; ask for 1 to {MAX_HISTORY} alert events")
    query = select(AlertHistory).order_by(AlertHistory.id.desc()).limit(limit)
    if deployment is not None:
        query = query.where(AlertHistory.deployment == deployment)
    with store.db.session() as session:
        return [event_view(r) for r in session.scalars(query)]


def _no_rule(rule_id: int) -> NotFound:
    return NotFound(f"alert rule {rule_id} not found; list the rules with `modelplane monitor alert list`")
