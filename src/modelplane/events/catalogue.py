"""The event types: which audit actions are public events, under what name, and who may see each.

Each type names the role action (security/roles.py) a reader needs. Deployment events are also visible to
a key that may predict on that deployment (a consumer sees its own deployments change, nothing else).
Audit actions not listed here (run.started, model.version.signed, ...) are internal and never sent.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelplane.errors import Invalid
from modelplane.security.roles import Action

PING = "ping"


@dataclass(frozen=True)
class EventType:
    name: str
    action: str  # the audit action it projects
    needs: Action  # who may see it
    about: str


CATALOGUE: tuple[EventType, ...] = (
    EventType("model.version.registered", "model.version.registered", "models:read", "a new model version"),
    EventType("model.version.deleted", "model.version.deleted", "models:read", "a version was retired"),
    EventType("model.alias.moved", "model.alias.moved", "models:read", "an alias points at another version"),
    EventType("model.alias.removed", "model.alias.removed", "models:read", "an alias was removed"),
    EventType("dataset.version.added", "dataset.version.added", "data:read", "a new dataset version"),
    EventType("deployment.saved", "deployment.saved", "deployments:read", "a deployment created or changed"),
    EventType("deployment.deleted", "deployment.deleted", "deployments:read", "a deployment was removed"),
    EventType(
        "deployment.reverted",
        "deployment.reverted",
        "deployments:read",
        "a new version failed (load, warm-up or first requests) and the previous one serves again",
    ),
    EventType("deployment.scaled", "deployment.scaled", "deployments:read", "its replicas changed"),
    EventType("job.submitted", "job.submitted", "jobs:read", "a job was queued"),
    EventType("job.finished", "job.succeeded", "jobs:read", "a job succeeded"),
    EventType("job.failed", "job.failed", "jobs:read", "a job failed"),
    EventType("job.cancelled", "job.cancelled", "jobs:read", "a job was cancelled"),
    EventType("run.finished", "run.finished", "models:read", "a training run ended"),
    EventType("alert.firing", "alert.firing", "deployments:read", "an alert rule of a deployment fired"),
    EventType("alert.resolved", "alert.resolved", "deployments:read", "a firing alert stopped holding"),
    EventType("retrain.fired", "retrain.fired", "jobs:read", "a retrain policy fired"),
    EventType("key.created", "key.created", "keys:admin", "an API key was created"),
    EventType("key.revoked", "key.revoked", "keys:admin", "an API key was revoked"),
    EventType("webhook.added", "webhook.added", "webhooks:admin", "a webhook was added"),
    EventType("webhook.removed", "webhook.removed", "webhooks:admin", "a webhook was removed"),
)
BY_ACTION: dict[str, EventType] = {t.action: t for t in CATALOGUE}
BY_NAME: dict[str, EventType] = {t.name: t for t in CATALOGUE}
NAMES: tuple[str, ...] = tuple(t.name for t in CATALOGUE)


def parse_types(types: str | list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """Event type names from a list or comma-separated text; empty means every type. Unknown names are an
    Invalid that lists the known ones."""
    if types is None:
        return ()
    parts = types.split(",") if isinstance(types, str) else [p for t in types for p in t.split(",")]
    names = tuple(dict.fromkeys(p.strip() for p in parts if p.strip()))
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise Invalid(f"unknown event type {', '.join(unknown)}; the event types are {', '.join(NAMES)}")
    return names
