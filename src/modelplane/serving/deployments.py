"""Deployments in the store: what to serve under a name. Servers reconcile against these rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from modelplane.errors import Invalid, NotFound
from modelplane.monitoring.settings import MonitoringSpec
from modelplane.refs import Ref, check_name
from modelplane.registry.deletion import model_key
from modelplane.registry.registry import find_version_row, get_version
from modelplane.registry.views import ModelVersionInfo
from modelplane.runtimes.adapters import ADAPTERS
from modelplane.security import audit
from modelplane.serving.scaling import RolloutSpec, ScalingSpec
from modelplane.store import Store
from modelplane.store.db import serialise
from modelplane.store.orm import AlertRule, Deployment, MonitorSchedule, utcnow
from modelplane.validation import validated


class CanarySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str
    percent: float = Field(gt=0, lt=100)


class EnsembleSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    members: list[str] = Field(min_length=2)
    combine: Literal["mean", "vote", "weighted"] = "mean"
    weights: list[float] | None = None

    @model_validator(mode="after")
    def _weights_fit(self) -> EnsembleSpec:
        if self.combine == "weighted":
            if self.weights is None or len(self.weights) != len(self.members):
                raise ValueError("combine=weighted needs one weight per member (e.g. --weights 0.7,0.3)")
            if any(w < 0 for w in self.weights) or sum(self.weights) <= 0:
                raise ValueError("weights must be >= 0 and not all 0")
        elif self.weights is not None:
            raise ValueError("weights are only used with combine=weighted")
        return self


class BatchingSpec(BaseModel):
    """Per deployment, like Triton's dynamic batcher. Frozen (hashable): a hot swap reuses a loaded
    version only when its batching is unchanged."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    max_batch_size: int = Field(default=64, ge=1, le=4096)
    max_queue_delay_ms: float = Field(default=2.0, ge=0, le=10_000)
    max_queue_size: int = Field(default=1024, ge=1)
    timeout_s: float = Field(default=30.0, gt=0)


class RequestLimits(BaseModel):
    """Per deployment: the largest request it takes. Rows past `max_request_rows` answer 413 (send more
    requests, or use `modelplane batch` for files); the body limit defaults to what that many rows need as
    JSON (see `serving.limits`), so a server never holds more than its largest allowed request."""

    model_config = ConfigDict(extra="forbid")
    max_request_rows: int = Field(default=16_384, ge=1, le=10_000_000)
    max_body_bytes: int | None = Field(default=None, ge=1024)


class DeploymentSpec(BaseModel):
    """One primary model (optionally with a canary and a shadow) or an ensemble of members, and the runtime
    that serves every version of it (None: ONNX Runtime where a version has its graph, else native)."""

    model_config = ConfigDict(extra="forbid")
    model: str | None = None
    canary: CanarySpec | None = None
    shadow: str | None = None
    ensemble: EnsembleSpec | None = None
    batching: BatchingSpec = Field(default_factory=lambda: BatchingSpec())
    limits: RequestLimits = Field(default_factory=lambda: RequestLimits())
    monitoring: MonitoringSpec = Field(default_factory=lambda: MonitoringSpec())
    scaling: ScalingSpec = Field(default_factory=lambda: ScalingSpec())
    rollout: RolloutSpec = Field(default_factory=lambda: RolloutSpec())
    runtime: str | None = None

    @field_validator("runtime")
    @classmethod
    def _known_runtime(cls, runtime: str | None) -> str | None:
        if runtime is not None and runtime not in ADAPTERS:
            raise ValueError(f"unknown runtime {runtime!r}; use one of {', '.join(sorted(ADAPTERS))}")
        return runtime

    @model_validator(mode="after")
    def _one_shape(self) -> DeploymentSpec:
        if (self.model is None) == (self.ensemble is None):
            raise ValueError("give either a model (NAME@VERSION or NAME@ALIAS) or an ensemble, not both")
        if self.ensemble is not None and (self.canary or self.shadow):
            raise ValueError("canary and shadow apply to a single-model deployment, not an ensemble")
        return self

    def refs(self) -> list[str]:
        refs = [self.model] if self.model else list(self.ensemble.members if self.ensemble else [])
        refs += [self.canary.model] if self.canary else []
        refs += [self.shadow] if self.shadow else []
        return [r for r in refs if r]


@dataclass(frozen=True)
class Resolved:
    """The exact versions a spec points at right now (aliases followed)."""

    primary: ModelVersionInfo | None
    canary: ModelVersionInfo | None
    shadow: ModelVersionInfo | None
    members: list[ModelVersionInfo]

    def versions(self) -> dict[str, ModelVersionInfo]:
        found = {v.ref: v for v in (self.primary, self.canary, self.shadow, *self.members) if v is not None}
        return found

    def key(self) -> tuple[str, ...]:
        """Changes exactly when the set of versions to serve changes (e.g. an alias moved)."""
        return tuple(v.ref if v else "-" for v in (self.primary, self.canary, self.shadow, *self.members))


def resolve(store: Store, spec: DeploymentSpec) -> Resolved:
    """Follow every ref; refuse mixes that cannot share one endpoint."""
    primary = get_version(store, spec.model) if spec.model else None
    canary = get_version(store, spec.canary.model) if spec.canary else None
    shadow = get_version(store, spec.shadow) if spec.shadow else None
    members = [get_version(store, ref) for ref in (spec.ensemble.members if spec.ensemble else [])]
    found = [v for v in (primary, canary, shadow, *members) if v is not None]
    first = found[0]
    for other in found[1:]:
        if other.input_shape != first.input_shape or other.task != first.task:
            raise Invalid(
                f"{other.ref} ({other.task}, input {other.input_shape}) cannot share a deployment with "
                f"{first.ref} ({first.task}, input {first.input_shape})"
            )
        if first.task == "classification" and other.classes != first.classes:
            raise Invalid(
                f"{other.ref} predicts classes {other.classes} but {first.ref} predicts {first.classes}; "
                "deploy them separately"
            )
    if spec.ensemble and spec.ensemble.combine == "vote" and first.task != "classification":
        raise Invalid("combine=vote needs classifiers; use mean or weighted for regression models")
    return Resolved(primary, canary, shadow, members)


@dataclass(frozen=True)
class DeploymentInfo:
    name: str
    spec: DeploymentSpec
    generation: int
    created_at: datetime
    updated_at: datetime
    created_by: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "spec": self.spec.model_dump(mode="json", exclude_none=True),
            "generation": self.generation,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "created_by": self.created_by,
        }


def _info(row: Deployment) -> DeploymentInfo:
    return DeploymentInfo(
        row.name,
        DeploymentSpec.model_validate(row.spec),
        row.generation,
        row.created_at,
        row.updated_at,
        row.created_by,
    )


def parse_spec(data: dict[str, Any]) -> DeploymentSpec:
    return validated(DeploymentSpec, data, "deployment")


def default_name(spec: DeploymentSpec) -> str:
    if spec.model is None:
        raise Invalid("an ensemble needs a deployment name (--name NAME)")
    return Ref.parse(spec.model, "model").name


def _deployment_key(name: str) -> str:
    """What saves and deletes of one deployment serialise on (see `serialise`): two servers creating it at
    once would otherwise both insert, and two replacing it would both write the same next generation."""
    return f"deployment:{name}"


def save_deployment(
    store: Store, spec: DeploymentSpec, *, name: str | None = None, by: str = ""
) -> DeploymentInfo:
    """Create or replace the deployment `name`; every ref must resolve now, and the runtime named must serve
    each version (the file it loads made now, once), or nothing is saved."""
    name = check_name(name or default_name(spec), "deployment")
    resolved = resolve(store, spec)
    if spec.runtime is not None:
        from modelplane.registry.loading import ready_for  # numpy and up: not for `deployments list`

        for version in resolved.versions().values():
            ready_for(store, version, spec.runtime)
    with store.db.session() as session:
        serialise(session, _deployment_key(name))
        _still_registered(session, spec)
        row = session.scalar(select(Deployment).where(Deployment.name == name))
        data = spec.model_dump(mode="json")
        if row is None:
            row = Deployment(name=name, spec=data, created_by=by)
            session.add(row)
        else:
            row.spec, row.generation, row.updated_at = data, row.generation + 1, utcnow()
        session.flush()
        audit.append(session, by, "deployment.saved", name, {"generation": row.generation, "spec": data})
        return _info(row)


def _still_registered(session: Session, spec: DeploymentSpec) -> None:
    """Take the locks a version's delete takes (registry/deletion.py), then check every ref still resolves:
    a version deleted between `resolve` and this commit is not deployed, and a delete after it sees this
    deployment and is refused."""
    for model in sorted({Ref.parse(ref, "model").name for ref in spec.refs()}):
        serialise(session, model_key(model))
    for ref in spec.refs():
        find_version_row(session, Ref.parse(ref, "model"))


def list_deployments(store: Store) -> list[DeploymentInfo]:
    with store.db.session() as session:
        return [_info(row) for row in session.scalars(select(Deployment).order_by(Deployment.name))]


def get_deployment(store: Store, name: str) -> DeploymentInfo:
    with store.db.session() as session:
        row = session.scalar(select(Deployment).where(Deployment.name == name))
        if row is None:
            raise NotFound(
                f"deployment '{name}' does not exist; list them with `modelplane deployments list`"
            )
        return _info(row)


def delete_deployment(store: Store, name: str, *, by: str = "") -> None:
    with store.db.session() as session:
        serialise(session, _deployment_key(name))
        row = session.scalar(select(Deployment).where(Deployment.name == name))
        if row is None:
            raise NotFound(
                f"deployment '{name}' does not exist; list them with `modelplane deployments list`"
            )
        session.delete(row)
        # What watched it goes with it; its windows and alert history stay (history of what was served).
        session.execute(delete(AlertRule).where(AlertRule.deployment == name))
        session.execute(delete(MonitorSchedule).where(MonitorSchedule.deployment == name))
        audit.append(session, by, "deployment.deleted", name)
