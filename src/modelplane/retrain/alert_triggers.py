"""The alert triggers: a `drift` or `accuracy-drop` policy owns alert rules (origin `retrain:<model>`) on
every deployment serving its model, and fires once per alert episode of one of them.

Defaults (replaced by `--when RULE`):
- drift: `drift > 0.2 for 2 windows` (a fifth of the features drifted, two monitor windows in a row);
- accuracy-drop: `live_accuracy < test_accuracy - 0.03` (labelled feedback 3 points under the version's
  test accuracy) and `estimated_accuracy < test_accuracy - 0.03` (the same drop, estimated before the
  labels arrive), either firing fires the policy.

The rules follow the policies: setting or deleting a policy syncs every deployment at once, and each
monitor evaluation syncs its deployment, so a deployment created later gets them at its first window.
Exactly once: the firing's dedupe key is the alert episode (`firings.record`'s unique key), and an
episode while a retrain of the model is still queued or running fires nothing.
"""

from __future__ import annotations

import logging

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from modelplane.retrain.firings import actor, record
from modelplane.retrain.views import ACTIVE, FiringInfo
from modelplane.serving.deployments import DeploymentInfo, list_deployments
from modelplane.store import Store
from modelplane.store.orm import AlertRule, Dataset, DatasetVersion, RetrainFiring, RetrainPolicy, utcnow

log = logging.getLogger(__name__)

DRIFT, ACCURACY_DROP = "drift", "accuracy-drop"
ALERT_TRIGGERS = (DRIFT, ACCURACY_DROP)
DEFAULT_WHEN: dict[str, tuple[str, ...]] = {
    DRIFT: ("drift > 0.2 for 2 windows",),
    ACCURACY_DROP: ("live_accuracy < test_accuracy - 0.03", "estimated_accuracy < test_accuracy - 0.03"),
}
ORIGIN_PREFIX = "retrain:"


def origin_of(model: str) -> str:
    return f"{ORIGIN_PREFIX}{model}"


def models_served(deployment: DeploymentInfo) -> set[str]:
    """The model names a deployment's primary and canary refs name."""
    refs = [deployment.spec.model, deployment.spec.canary.model if deployment.spec.canary else None]
    return {ref.partition("@")[0] for ref in refs if ref}


def _policy_rules(store: Store) -> dict[str, list[str]]:
    with store.db.session() as session:
        rows = session.execute(
            select(RetrainPolicy.model, RetrainPolicy.alert_when).where(
                RetrainPolicy.trigger.in_(ALERT_TRIGGERS)
            )
        ).all()
    return {model: list(when or ()) for model, when in rows}


def sync_rules(store: Store, deployments: list[DeploymentInfo] | None = None) -> None:
    """Make the policy-owned rules of `deployments` (default: all) match the policies: add the missing,
    remove those of deleted or changed policies (with their state)."""
    wanted_by_model = _policy_rules(store)
    for deployment in deployments if deployments is not None else list_deployments(store):
        wanted = {
            (origin_of(model), text)
            for model in models_served(deployment)
            for text in wanted_by_model.get(model, ())
        }
        with store.db.session() as session:
            have = session.execute(
                select(AlertRule.id, AlertRule.origin, AlertRule.text).where(
                    AlertRule.deployment == deployment.name, AlertRule.origin.startswith(ORIGIN_PREFIX)
                )
            ).all()
            stale = [rule_id for rule_id, origin, text in have if (origin, text) not in wanted]
            if stale:
                session.execute(delete(AlertRule).where(AlertRule.id.in_(stale)))
        missing = wanted - {(origin, text) for _, origin, text in have}
        for origin, text in sorted(missing):
            _add(store, deployment.name, origin, text)


def _add(store: Store, deployment: str, origin: str, text: str) -> None:
    from modelplane.monitoring.alert_rules import parse_rule

    rule = parse_rule(text)
    try:
        with store.db.session() as session:
            session.add(
                AlertRule(
                    deployment=deployment,
                    text=rule.text,
                    for_windows=rule.for_windows,
                    origin=origin,
                    breaches=0,
                    state="ok",
                    created_at=utcnow(),
                    created_by=actor(origin.removeprefix(ORIGIN_PREFIX)),
                )
            )
    except IntegrityError:  # another monitor job added it first
        pass


def fire_on_alert(
    store: Store, origin: str, *, episode: str, deployment: str, rule: str
) -> FiringInfo | None:
    """Fire the policy owning a rule that just fired; None when it is gone, disabled, no longer an alert
    trigger, has no data, is already retraining, or this episode fired it already."""
    if not origin.startswith(ORIGIN_PREFIX):
        return None
    model = origin.removeprefix(ORIGIN_PREFIX)
    newest = select(DatasetVersion.id).join(Dataset).where(Dataset.name == RetrainPolicy.dataset)
    with store.db.session() as session:
        found = session.execute(
            select(
                RetrainPolicy.trigger,
                RetrainPolicy.enabled,
                newest.order_by(DatasetVersion.version.desc()).limit(1).scalar_subquery(),
            ).where(RetrainPolicy.model == model)
        ).first()
        busy = session.scalar(
            select(RetrainFiring.job_id).where(RetrainFiring.model == model, RetrainFiring.state.in_(ACTIVE))
        )
    if found is None or not found.enabled or found.trigger not in ALERT_TRIGGERS:
        return None
    trigger, _, dataset_version_id = found
    if dataset_version_id is None:
        log.warning("retrain policy of %s: its dataset has no version; alert %s fired nothing", model, rule)
        return None
    if busy is not None:
        log.info(
            "retrain of %s already under way (job %s); alert episode %s fires none", model, busy, episode
        )
        return None
    return record(
        store,
        model,
        trigger=trigger,
        reason=f"alert '{rule}' fired on {deployment} (episode {episode})",
        dedupe=f"{model}:alert:{episode}",
        dataset_version_id=dataset_version_id,
        by=actor(model),
    )
