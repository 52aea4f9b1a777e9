"""Deleting versions and whole models, refused while something still holds them.

A version is held by an alias, a live child version (compressed or retrained from it), a deployment whose
spec names it (NAME@VERSION, NAME@ALIAS or a bare NAME, which serves the latest), and a queued or running
job that reads it (a compression's source, a batch's pinned versions, a training or retraining of its model).
Deleting one while held is how a server came to serve a version the registry no longer lists; so each
refusal says what holds it and how to let go.

Versions are soft-deleted (their rows keep lineage and the audit readable; their numbers are never reused)
and their files become garbage for `gc` (store/gc.py). A deleted model keeps its row, marked, so the name
can be registered again and numbers on after the versions it had.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelplane.errors import Conflict, Invalid, NotFound
from modelplane.jobs.views import QUEUED, RUNNING
from modelplane.refs import Ref, check_name
from modelplane.security import audit
from modelplane.store import Store
from modelplane.store.db import serialise
from modelplane.store.orm import (
    AliasEvent,
    Deployment,
    Job,
    ModelVersion,
    RegisteredModel,
    RetrainPolicy,
    utcnow,
)


@dataclass(frozen=True)
class Hold:
    """One thing that keeps a version (or model) alive: what it is, and the command that releases it.
    `forceable` holds may be overridden by `models delete NAME --force` (they survive the deletion: a child
    keeps its lineage row, a retrain policy is removed with the model); a deployment or a job never is."""

    what: str
    release: str
    kind: str  # alias, child, deployment, job, policy

    @property
    def forceable(self) -> bool:
        return self.kind in ("child", "policy")


def model_key(model_name: str) -> str:
    """What changes to one model's versions and aliases serialise on (see `serialise`)."""
    return f"model:{model_name}"


def deployment_refs(spec: dict[str, Any]) -> list[str]:
    """Every model ref a stored deployment spec names: the model, its canary and shadow, ensemble members."""
    refs = [spec.get("model"), (spec.get("canary") or {}).get("model"), spec.get("shadow")]
    refs += list((spec.get("ensemble") or {}).get("members") or [])
    return [r for r in refs if isinstance(r, str) and r]


def _resolves_to(session: Session, ref: str, model: RegisteredModel) -> ModelVersion | None:
    """The live version of `model` that `ref` means now (None when it names another model or nothing)."""
    parsed = Ref.parse(ref, "model")
    if parsed.name != model.name:
        return None
    live = [v for v in model.versions if v.deleted_at is None]
    if parsed.selector is None:
        return live[-1] if live else None
    if parsed.version is not None:
        return next((v for v in live if v.version == parsed.version), None)
    alias = next((a for a in model.aliases if a.name == parsed.selector), None)
    return alias.target if alias is not None else None


def _active_jobs(session: Session) -> list[Job]:
    return list(session.scalars(select(Job).where(Job.state.in_((QUEUED, RUNNING))).order_by(Job.created_at)))


def _job_refs(job: Job) -> list[str]:
    """The model refs a queued or running job reads: a compression's source, a batch's pinned versions."""
    if job.kind == "compress":
        return [str(job.params.get("ref", ""))]
    if job.kind == "batch":
        return [str(r) for r in (job.params.get("deployment") or {}).get("versions", [])]
    return []


def _job_hold(job: Job) -> Hold:
    return Hold(
        f"{job.state} {job.kind} job {job.id} reads it",
        f"wait for it (`modelplane jobs wait {job.id}`) or cancel it (`modelplane jobs cancel {job.id}`)",
        "job",
    )


def _deployment_holds(session: Session, model: RegisteredModel, row: ModelVersion | None) -> list[Hold]:
    """Deployments naming `row` (or, with None, any version of `model`)."""
    holds = []
    for deployment in session.scalars(select(Deployment).order_by(Deployment.name)):
        for ref in deployment_refs(deployment.spec):
            target = _resolves_to(session, ref, model)
            named = Ref.parse(ref, "model").name == model.name
            if (row is None and named) or (row is not None and target is not None and target.id == row.id):
                holds.append(
                    Hold(
                        f"deployment '{deployment.name}' serves it (as {ref})",
                        f"point it at another version (`modelplane deploy`) or remove it "
                        f"(`modelplane deployments undeploy {deployment.name}`)",
                        "deployment",
                    )
                )
                break
    return holds


def version_holds(session: Session, row: ModelVersion) -> list[Hold]:
    """Everything that holds the live version `row`, its aliases and children included."""
    model = row.model
    holds = [
        Hold(
            f"it is the target of alias {a.name}",
            f"move it (`modelplane models alias {model.name}@VERSION {a.name}`) or remove it "
            f"(`modelplane models unalias {model.name} {a.name}`)",
            "alias",
        )
        for a in model.aliases
        if a.version_id == row.id
    ]
    holds += _child_holds(session, [row], outside=None)
    holds += _deployment_holds(session, model, row)
    for job in _active_jobs(session):
        targets = [_resolves_to(session, r, model) for r in _job_refs(job) if r]
        if any(t is not None and t.id == row.id for t in targets):
            holds.append(_job_hold(job))
    return holds


def _child_holds(session: Session, rows: list[ModelVersion], *, outside: int | None) -> list[Hold]:
    """Live versions made from `rows` (those inside model `outside` are left out: they go with it)."""
    if not rows:
        return []
    children = session.scalars(
        select(ModelVersion)
        .where(ModelVersion.parent_version_id.in_([r.id for r in rows]), ModelVersion.deleted_at.is_(None))
        .order_by(ModelVersion.id)
    ).all()
    return [
        Hold(
            f"it is the parent of {c.model.name}@{c.version}",
            f"delete it first (`modelplane models delete {c.model.name}@{c.version}`)",
            "child",
        )
        for c in children
        if outside is None or c.model_id != outside
    ]


def model_holds(session: Session, model: RegisteredModel) -> list[Hold]:
    """What holds `model` from outside itself: deployments, children elsewhere, jobs, a retrain policy."""
    live = [v for v in model.versions if v.deleted_at is None]
    holds = _deployment_holds(session, model, None)
    holds += _child_holds(session, live, outside=model.id)
    for job in _active_jobs(session):
        reads = [Ref.parse(r, "model").name for r in _job_refs(job) if r]
        if model.name in reads or (
            job.kind in ("train", "retrain") and job.params.get("model") == model.name
        ):
            holds.append(_job_hold(job))
    policy = session.scalar(select(RetrainPolicy).where(RetrainPolicy.model == model.name))
    if policy is not None:
        holds.append(
            Hold(
                "its retrain policy retrains it",
                f"remove it (`modelplane retrain-policy delete {model.name}`) or pass --force",
                "policy",
            )
        )
    return holds


def refusal(target: str, holds: list[Hold], *, force_hint: bool = False) -> Conflict:
    """One 409 naming every holder and how to release it."""
    listed = "; ".join(f"{h.what} ({h.release})" for h in holds)
    hint = (
        "; --force overrides only child versions in other models and a retrain policy" if force_hint else ""
    )
    return Conflict(f"{target} cannot be deleted: {listed}{hint}")


def live_model_row(session: Session, name: str) -> RegisteredModel:
    model = session.scalar(
        select(RegisteredModel).where(RegisteredModel.name == name, RegisteredModel.deleted_at.is_(None))
    )
    if model is None:
        raise NotFound(f"model '{name}' does not exist; list models with `modelplane models list`")
    return model


def retire(session: Session, row: ModelVersion, *, by: str, reason: str | None = None) -> None:
    """Soft-delete one version (callers checked its holds) and record it."""
    row.deleted_at = utcnow()
    details = {"reason": reason} if reason else None
    audit.append(session, by, "model.version.deleted", f"{row.model.name}@{row.version}", details)


def delete_version(store: Store, ref: str, *, by: str = "") -> None:
    """Retire a version (its number is never reused); refused while anything holds it."""
    from modelplane.registry.registry import find_version_row

    parsed = Ref.parse(ref, "model")
    if parsed.version is None:
        raise Invalid(f"name the version to delete by number: {parsed.name}@VERSION")
    with store.db.session() as session:
        serialise(session, model_key(parsed.name))
        row = find_version_row(session, parsed)
        holds = version_holds(session, row)
        if holds:
            raise refusal(ref, holds)
        retire(session, row, by=by)


def delete_model(store: Store, name: str, *, force: bool = False, by: str = "") -> int:
    """Delete model `name` with its aliases and versions; returns how many versions went. Refused while
    something outside it holds it; `force` overrides only child versions elsewhere and a retrain policy
    (which is removed with the model), never a deployment or a job."""
    check_name(name, "model")
    with store.db.session() as session:
        serialise(session, model_key(name))
        model = live_model_row(session, name)
        holds = model_holds(session, model)
        blocking = [h for h in holds if not (force and h.forceable)]
        if blocking:
            raise refusal(
                f"model '{name}'", blocking, force_hint=not force and any(h.forceable for h in holds)
            )
        aliases = {a.name: a.target.version for a in model.aliases}
        for alias in list(model.aliases):
            session.add(
                AliasEvent(
                    model_id=model.id,
                    alias=alias.name,
                    from_version=alias.target.version,
                    to_version=None,
                    by=by,
                )
            )
            session.delete(alias)
        live = [v for v in model.versions if v.deleted_at is None]
        for row in live:
            retire(session, row, by=by, reason="model deleted")
        policy = session.scalar(select(RetrainPolicy).where(RetrainPolicy.model == name))
        if policy is not None:
            session.delete(policy)
            audit.append(session, by, "retrain.policy.deleted", name, {"reason": "model deleted"})
        model.deleted_at = utcnow()
        model.keep_last, model.keep_aliased = None, False
        audit.append(
            session,
            by,
            "model.deleted",
            name,
            {
                "versions": [v.version for v in live],
                "aliases": aliases,
                "forced": [h.what for h in holds if h.forceable],
            },
        )
        return len(live)
