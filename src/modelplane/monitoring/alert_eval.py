"""Evaluating a deployment's alert rules against one monitor window's snapshots.

Per rule: it breaches when it holds for any served version's snapshot; it is undecided (no evidence) when
every snapshot lacks a metric it names, and then nothing changes. After `for_windows` consecutive breaching
windows it fires (a new episode); on the first window where it does not hold it resolves. Each transition is
one transaction: a conditional UPDATE of the rule (its state, count and last window still as read, and the
window newer than the last one counted) then the history row and an `alert.firing` / `alert.resolved`
audit entry, which the events area turns into events and signed webhook deliveries. Of two monitor jobs
evaluating the same window, one moves the rule and the other updates nothing, so nothing fires twice.
A rule a retrain policy owns fires that policy when it fires (once per episode, see retrain/alert_triggers).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import or_, select, update

from modelplane.jobs.views import aware
from modelplane.monitoring.alert_rules import Rule, parse_rule
from modelplane.monitoring.alert_store import FIRING, OK, RESOLVED, USER, AlertEvent, event_view
from modelplane.security import audit
from modelplane.serving.deployments import get_deployment
from modelplane.store import Store
from modelplane.store.orm import AlertHistory, AlertRule, utcnow

log = logging.getLogger(__name__)

ACTOR = "monitor"


@dataclass(frozen=True)
class _Verdict:
    holds: bool | None  # None: no snapshot had every metric the rule names
    version: str | None
    value: float | None
    threshold: float | None


def judge(rule: Rule, snapshots: Mapping[str, Mapping[str, float]]) -> _Verdict:
    """Breach if any version's snapshot holds (the first such version, by name, is reported)."""
    decided: _Verdict | None = None
    for version in sorted(snapshots):
        outcome = rule.check(snapshots[version])
        if outcome.holds:
            return _Verdict(True, version, outcome.value, outcome.threshold)
        if outcome.holds is False and decided is None:
            decided = _Verdict(False, version, outcome.value, outcome.threshold)
    return decided or _Verdict(None, None, None, None)


def evaluate_alerts(
    store: Store, deployment: str, snapshots: dict[str, dict[str, float]], *, window_end: datetime
) -> list[AlertEvent]:
    """Count this window against every rule of `deployment` (version -> snapshot); the firings and
    resolutions it caused, oldest first."""
    from modelplane.retrain.alert_triggers import fire_on_alert, sync_rules

    window_end = aware(window_end).astimezone(timezone.utc)
    sync_rules(store, [get_deployment(store, deployment)])
    with store.db.session() as session:
        rows = session.scalars(select(AlertRule).where(AlertRule.deployment == deployment)).all()
        rules = [(r.id, r.text, r.origin, r.state, r.breaches, r.episode, r.last_window_end) for r in rows]
    events: list[AlertEvent] = []
    for rule_id, text, origin, state, breaches, episode, last in rules:
        if last is not None and aware(last) >= window_end:
            continue  # counted already (another monitor job, or a replayed window)
        verdict = judge(parse_rule(text), snapshots)
        if verdict.holds is None:
            continue
        moved, firing_episode = _move(
            store, deployment, rule_id, text, (state, breaches, episode, last), verdict, window_end
        )
        if moved is not None:
            events.append(moved)
        if firing_episode is not None and origin != USER:
            # Every window of the episode asks: the episode's dedupe key makes it fire once, and a monitor
            # job that died between the alert and the retrain leaves it to the next window.
            try:
                fire_on_alert(store, origin, episode=firing_episode, deployment=deployment, rule=text)
            except Exception:  # the alert stands; the next window of the episode tries again
                log.exception("alert %s on %s: its retrain policy could not fire", text, deployment)
    return events


def _move(
    store: Store,
    deployment: str,
    rule_id: int,
    text: str,
    seen: tuple[str, int, str | None, datetime | None],
    verdict: _Verdict,
    window_end: datetime,
) -> tuple[AlertEvent | None, str | None]:
    """Apply one window to one rule: the transition it made, if any, and the episode when the rule is
    firing after it (None when this job did not move the rule)."""
    state, breaches, episode, last = seen
    for_windows = parse_rule(text).for_windows
    transition: str | None = None
    if verdict.holds:
        new_breaches, new_state, new_episode = breaches + 1, state, episode
        if state == OK and new_breaches >= for_windows:
            transition, new_state, new_episode = FIRING, FIRING, uuid.uuid4().hex[:16]
    else:
        new_breaches, new_state, new_episode = 0, OK, None
        if state == FIRING:
            transition = RESOLVED
    still = AlertRule.last_window_end.is_(None) if last is None else AlertRule.last_window_end == last
    with store.db.session() as session:
        changed = session.execute(
            update(AlertRule)
            .where(
                AlertRule.id == rule_id,
                AlertRule.state == state,
                AlertRule.breaches == breaches,
                still,
                or_(AlertRule.last_window_end.is_(None), AlertRule.last_window_end < window_end),
            )
            .values(breaches=new_breaches, state=new_state, episode=new_episode, last_window_end=window_end)
            .execution_options(synchronize_session=False)
        )
        if changed.rowcount != 1:  # type: ignore[attr-defined]
            return None, None
        if transition is None:
            return None, new_episode if new_state == FIRING else None
        row = AlertHistory(
            rule_id=rule_id,
            deployment=deployment,
            version=verdict.version,
            rule=text,
            state=transition,
            value=verdict.value,
            threshold=verdict.threshold,
            episode=str(new_episode if transition == FIRING else episode),
            window_end=window_end,
            at=utcnow(),
        )
        session.add(row)
        session.flush()
        details = {
            "deployment": deployment,
            "version": verdict.version,
            "rule": rule_id,
            "text": text,
            "value": verdict.value,
            "threshold": verdict.threshold,
            "window_end": window_end.isoformat(),
            "episode": row.episode,
            "alert": row.id,
        }
        audit.append(session, ACTOR, f"alert.{transition}", deployment, details)
        return event_view(row), new_episode if new_state == FIRING else None
