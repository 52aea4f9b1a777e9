"""Retrain policies in the store: set (every check up front), read, list, delete.

A policy is refused when it could never work: a gate that does not parse or names a metric the model's
task lacks, a model without a `production` version (there is nothing to improve on), a dataset whose rows
the model cannot read, a cron expression that does not parse, or a canary with no deployment to run on.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelplane.data.catalog import find_version_row
from modelplane.data.catalog import get_version as get_dataset_version
from modelplane.errors import Invalid, NoSuchAlias, NotFound
from modelplane.models.frameworks import framework, is_trainable
from modelplane.refs import Ref, check_name
from modelplane.registry.registry import get_version
from modelplane.registry.views import ModelVersionInfo
from modelplane.retrain.alert_triggers import sync_rules
from modelplane.retrain.cron import parse_cron
from modelplane.retrain.data import check_dataset
from modelplane.retrain.gate import DEFAULT_GATES, parse_gate
from modelplane.retrain.rollout import deployments_serving
from modelplane.retrain.settings import DEFAULT_EPOCHS, DEFAULT_REPLAY, parse_settings
from modelplane.retrain.views import FiringInfo, RetrainPolicyInfo, firing_view, policy_view
from modelplane.security import audit
from modelplane.store import Store
from modelplane.store.orm import RetrainFiring, RetrainPolicy, utcnow

PRODUCTION = "production"
WARM_START = (
    "fine-tune: warm start from production's weights on the new rows plus a replay sample of old rows"
)
FROM_SCRATCH = (
    "from scratch on all rows: scikit-learn models are refitted, since a warm start isn't meaningful for "
    "most estimators (the replay fraction and epochs do not apply)"
)


def production_of(store: Store, model: str) -> ModelVersionInfo:
    """The version a retrain starts from and is compared with."""
    try:
        info = get_version(store, f"{check_name(model, 'model')}@{PRODUCTION}")
    except NoSuchAlias:
        raise Invalid(
            f"model '{model}' has no production version, so a retrain has nothing to start from or beat; "
            f"promote one first (`modelplane models alias {model}@VERSION production`)"
        ) from None
    if not is_trainable(info.framework):
        origin = (
            "imported" if "imported" in info.params else f"compressed from {info.parent or 'another version'}"
        )
        raise Invalid(
            f"{model}@production is {info.ref}, an {info.framework} graph without torch or scikit-learn "
            f"weights to retrain ({origin}); point production at a trained version first"
        )
    return info


def method_of(name: str) -> str:
    return WARM_START if framework(name).warm_starts else FROM_SCRATCH


def set_policy(
    store: Store,
    model: str,
    *,
    data: str,
    on: str = "new-data",
    gate: str | None = None,
    canary: str | None = None,
    replay: float = DEFAULT_REPLAY,
    epochs: int = DEFAULT_EPOCHS,
    lr: float | None = None,
    enabled: bool = True,
    when: str | None = None,
    by: str = "",
) -> RetrainPolicyInfo:
    """Create or replace the policy of `model`. Data already there when it is set does not fire it; the
    next new version does (a policy re-set on the same dataset keeps what it had already seen)."""
    production = production_of(store, model)
    settings = parse_settings(
        data=data,
        on=on,
        gate=gate or DEFAULT_GATES[production.task],
        canary=canary,
        replay=replay,
        epochs=epochs,
        lr=lr,
        enabled=enabled,
        when=when,
    )
    parsed_gate = parse_gate(settings.gate, production.task)
    latest = get_dataset_version(store, settings.dataset)
    check_dataset(production, latest)
    if settings.canary_percent is not None and not deployments_serving(store, model):
        raise Invalid(
            f"no deployment serves {model}@production, so a canary would have nowhere to run; deploy it "
            f"first (`modelplane deploy {model}@production`) or pass --canary none"
        )
    now = utcnow()
    next_fire = parse_cron(settings.schedule).next_after(now) if settings.schedule else None
    with store.db.session() as session:
        latest_id = find_version_row(session, Ref.parse(latest.ref, "dataset")).id
        row = session.scalar(select(RetrainPolicy).where(RetrainPolicy.model == model))
        if row is None:
            row = RetrainPolicy(model=model, created_at=now)
            session.add(row)
        elif row.dataset == settings.dataset and row.last_seen_dataset_version_id is not None:
            latest_id = row.last_seen_dataset_version_id
        row.dataset, row.trigger, row.schedule = settings.dataset, settings.trigger, settings.schedule
        row.gate, row.replay, row.epochs, row.lr = (
            parsed_gate.text,
            settings.replay,
            settings.epochs,
            settings.lr,
        )
        row.canary_percent, row.canary_seconds = settings.canary_percent, settings.canary_seconds
        row.enabled, row.last_seen_dataset_version_id, row.next_fire_at = (
            settings.enabled,
            latest_id,
            next_fire,
        )
        row.alert_when = list(settings.when) or None
        row.updated_at, row.updated_by = now, by
        session.flush()
        audit.append(
            session, by, "retrain.policy.set", model, {**settings.to_dict(), "gate": parsed_gate.text}
        )
        info = policy_view(session, row, method=method_of(production.framework), history=[])
    sync_rules(store)
    return info


def _row(session: Session, model: str) -> RetrainPolicy:
    row = session.scalar(select(RetrainPolicy).where(RetrainPolicy.model == model))
    if row is None:
        raise NotFound(
            f"model '{model}' has no retrain policy; set one with "
            f"`modelplane retrain-policy set {model} --data DATASET`"
        )
    return row


def _method(store: Store, model: str) -> str:
    try:
        return method_of(production_of(store, model).framework)
    except (Invalid, NotFound) as exc:
        return f"none: {exc}"


def history(session: Session, model: str, *, limit: int) -> list[FiringInfo]:
    """Newest first."""
    rows = session.scalars(
        select(RetrainFiring)
        .where(RetrainFiring.model == model)
        .order_by(RetrainFiring.id.desc())
        .limit(limit)
    )
    return [firing_view(session, r) for r in rows]


def get_policy(store: Store, model: str, *, limit: int = 20) -> RetrainPolicyInfo:
    """The policy with its last `limit` firings, newest first."""
    method = _method(store, model)
    with store.db.session() as session:
        return policy_view(
            session, _row(session, model), method=method, history=history(session, model, limit=limit)
        )


def list_policies(store: Store) -> list[RetrainPolicyInfo]:
    """Every policy with its latest firing only."""
    with store.db.session() as session:
        models = session.scalars(select(RetrainPolicy.model).order_by(RetrainPolicy.model)).all()
    return [get_policy(store, model, limit=1) for model in models]


def delete_policy(store: Store, model: str, *, by: str = "") -> None:
    """Stop retraining `model`. Its history stays, and a canary already running still finishes."""
    with store.db.session() as session:
        session.delete(_row(session, model))
        audit.append(session, by, "retrain.policy.deleted", model)
    sync_rules(store)
