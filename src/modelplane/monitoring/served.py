"""What a deployment serves, as feedback and live metrics need it: the task, the class names labels must be
one of, and the registry version behind a logged `version` (its test metrics)."""

from __future__ import annotations

from dataclasses import dataclass

from modelplane.errors import NotFound
from modelplane.refs import Ref
from modelplane.registry.registry import get_version
from modelplane.registry.views import ModelVersionInfo
from modelplane.serving.deployments import get_deployment, resolve
from modelplane.store import Store


@dataclass(frozen=True)
class Served:
    deployment: str
    task: str
    classes: list[str] | None
    models: list[str]  # the model names a logged version number may belong to: the primary's first
    current: dict[str, ModelVersionInfo]  # what it serves now, by the version string the log records

    def version(self, store: Store, logged: str) -> ModelVersionInfo | None:
        """The registry version that answered as `logged` (serving logs the version number; an ensemble's
        generation has none; a whole ref is taken as it is), also one served earlier (an alias has moved
        since)."""
        if logged in self.current:
            return self.current[logged]
        if "@" in logged:  # a whole ref (a log another writer made): taken as it is
            try:
                return get_version(store, logged)
            except NotFound:
                return None
        if not logged.isdigit():
            return None
        for model in self.models:
            try:
                return get_version(store, f"{model}@{logged}")
            except NotFound:
                continue
        return None


def served(store: Store, deployment: str) -> Served:
    """NotFound when the deployment does not exist."""
    spec = get_deployment(store, deployment).spec
    resolved = resolve(store, spec)
    first = resolved.primary or resolved.members[0]
    current = {str(v.version): v for v in (resolved.canary, resolved.primary) if v is not None}
    models = [
        Ref.parse(ref, "model").name
        for ref in (spec.model, spec.canary.model if spec.canary else None)
        if ref
    ]
    return Served(deployment, first.task, list(first.classes) if first.classes else None, models, current)
