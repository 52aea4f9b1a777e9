"""The `retrain` job: one firing of a policy, from the new rows to a candidate in canary (or a recorded
reason why nothing changed).

Steps: find the rows that are new since production's data (none: a no-op, recorded); fine-tune production
on them plus a replay sample of old rows, checkpointing each epoch so a retried attempt resumes; score
candidate and production on the same test rows; apply the gate (failed: recorded, nothing registered);
register the candidate as a child of production and start its rollout (rollout.py). A retried attempt
finds the candidate an earlier one registered and goes straight to the rollout, so a crash never registers
two versions for one firing.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelplane.data.catalog import describe, find_version_row
from modelplane.jobs.context import JobContext
from modelplane.jobs.kinds import job_dir
from modelplane.jobs.views import CANCELLED, JobInfo
from modelplane.models.frameworks import Fitted, framework, parse_spec
from modelplane.monitoring.profile_store import profile_quietly
from modelplane.provenance import code_version
from modelplane.refs import Ref
from modelplane.registry.registry import NewVersion, get_model, register, version_id
from modelplane.registry.tables import inherited_files
from modelplane.registry.views import ModelVersionInfo
from modelplane.retrain import rollout
from modelplane.retrain.candidate import GraphNotReused, fit_candidate, retrain_config, reused_graph, score
from modelplane.retrain.data import NothingToFit, RetrainData, find_new_rows, load_rows
from modelplane.retrain.firings import actor, get_firing, move
from modelplane.retrain.gate import parse_gate
from modelplane.retrain.policies import production_of
from modelplane.retrain.settings import PolicySettings
from modelplane.retrain.views import ACTIVE, FAILED, GATE_FAILED, NO_OP, QUEUED, RUNNING, FiringInfo
from modelplane.store import Store
from modelplane.training.config import TrainConfig
from modelplane.training.packaging import PackagedVersion


@dataclass(frozen=True)
class FiringEnded:
    """A firing that ended without a candidate to roll out (a no-op or a failed gate)."""

    firing: int
    state: str
    detail: str | None

    def result(self) -> dict[str, Any]:
        """The job's result."""
        return {"firing": self.firing, "state": self.state, "detail": self.detail}


def _scalars(metrics: dict[str, Any]) -> dict[str, Any]:
    """The headline numbers of a metrics dict (no per-class table or confusion matrix)."""
    return {k: v for k, v in metrics.items() if not isinstance(v, dict | list)}


def _registered(store: Store, firing: FiringInfo) -> ModelVersionInfo | None:
    """The candidate an earlier attempt of this firing registered, if one did."""
    for version in get_model(store, firing.model).versions:
        if version.params.get("retrain", {}).get("firing") == firing.id:
            return version
    return None


def _end(
    store: Store, firing: FiringInfo, state: str, detail: str, action: str, **values: Any
) -> FiringEnded:
    with store.db.session() as session:
        move(
            session,
            firing.id,
            state,
            when=(RUNNING,),
            action=action,
            detail=detail,
            by=actor(firing.model),
            **values,
        )
    return FiringEnded(firing.id, state, detail)


def _serving_graph(
    ctx: JobContext, production: ModelVersionInfo, fitted: Fitted, data: RetrainData, scratch: Path
) -> Path | None:
    """Production's graph with the fine-tuned weights, or None to export afresh (the log says why)."""
    rows = data.arrays["validation"][0].astype("float32", copy=False)
    reused = reused_graph(ctx.store, production, fitted, scratch, rows)
    if isinstance(reused, GraphNotReused):
        ctx.log(f"serving graph: exported afresh, since {reused.reason}")
        return None
    ctx.log(f"serving graph: {production.ref}'s ONNX graph with the new weights, checked on {len(rows)} rows")
    return reused


class RetrainKind:
    def run(self, ctx: JobContext) -> dict[str, Any]:
        store = ctx.store
        firing = get_firing(store, int(ctx.params["firing"]))
        if firing.state not in ACTIVE:  # an earlier attempt finished the firing, then lost its job
            return FiringEnded(firing.id, firing.state, firing.detail).result()
        with store.db.session() as session:
            move(
                session,
                firing.id,
                RUNNING,
                when=(QUEUED,),
                action="retrain.started",
                detail=None,
                by=actor(firing.model),
            )
        production = production_of(store, firing.model)
        settings = PolicySettings(**firing.settings)
        candidate = _registered(store, firing)
        if candidate is None:
            made = self._make(ctx, firing, production, settings)
            if isinstance(made, FiringEnded):
                return made.result()
            candidate = made
        else:
            ctx.log(f"{candidate.ref} was registered by an earlier attempt; continuing with its rollout")
        state = rollout.start(store, firing, candidate, settings)
        shutil.rmtree(job_dir(store, ctx.job_id), ignore_errors=True)
        finished = get_firing(store, firing.id)
        ctx.log(f"{state}: {finished.detail}")
        return {"firing": firing.id, "state": state, "candidate": candidate.ref, "detail": finished.detail}

    def _make(
        self, ctx: JobContext, firing: FiringInfo, production: ModelVersionInfo, settings: PolicySettings
    ) -> ModelVersionInfo | FiringEnded:
        """The registered candidate, or how the firing ended without one."""
        store = ctx.store
        assert firing.dataset is not None  # every trigger names the dataset version it fired on
        with store.db.session() as session:
            target = find_version_row(session, Ref.parse(firing.dataset, "dataset"))
            dataset, new, target_id = (
                describe(session, target),
                find_new_rows(session, production, target),
                target.id,
            )
        if new.start is None:
            return _end(store, firing, NO_OP, new.note, "retrain.noop")
        adapter = framework(production.framework)
        warm = adapter.warm_starts
        data = load_rows(store, production, dataset, new, replay=settings.replay if warm else None)
        if isinstance(data, NothingToFit):
            return _end(store, firing, NO_OP, data.reason, "retrain.noop")
        config = retrain_config(production, settings)
        c = data.counts
        how = f"a warm start from {production.ref}" if warm else f"refitting from scratch ({adapter.name})"
        ctx.log(
            f"{data.note}; fitting on {c['fit']} rows ({c['new_train']} new, {c['replay']} of "
            f"{c['old_train']} old replayed) by {how}"
        )
        epochs = config.epochs if adapter.trains_in_epochs else 1

        def on_epoch(metrics: dict[str, float]) -> None:
            shown = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items() if k.startswith(("train_", "val_")))
            ctx.progress(int(metrics["epoch"]), total=epochs, line=f"epoch {int(metrics['epoch'])}: {shown}")

        from modelplane.training.packaging import package_version

        with tempfile.TemporaryDirectory(dir=store.artifacts.tmp_dir) as scratch:
            checkpoints = job_dir(store, ctx.job_id) / "checkpoints"
            fitted = fit_candidate(
                store, production, data, config, checkpoints=checkpoints, on_epoch=on_epoch
            )
            folder = Path(scratch)
            graph = _serving_graph(ctx, production, fitted, data, folder) if warm else None
            spec = parse_spec(production.spec)
            exported = package_version(fitted.model, spec, data.dataset, data.arrays, folder, graph=graph)
            mine, theirs = score(store, production, fitted, exported, data)
            verdict = parse_gate(settings.gate, production.task).judge(mine, theirs)
            comparison = {
                "candidate": _scalars(mine),
                "production": _scalars(theirs),
                "production_version": production.ref,
                "gate": verdict.to_dict(),
                "rows": data.counts,
                "test_rows": len(data.arrays["test"][1]),
            }
            ctx.log(f"gate {settings.gate}: {verdict.summary}")
            ctx.check()  # a cancel that came while scoring stops before anything is recorded
            if not verdict.passed:
                detail = (
                    f"gate {settings.gate} failed ({verdict.summary}); nothing changed, {production.ref} "
                    "stays production"
                )
                return _end(store, firing, GATE_FAILED, detail, "retrain.gate.failed", result=comparison)
            with store.db.session() as session:
                move(
                    session,
                    firing.id,
                    RUNNING,
                    when=(RUNNING,),
                    action="retrain.gate.passed",
                    detail=verdict.summary,
                    by=actor(firing.model),
                    result=comparison,
                )
            return self._register(
                ctx, firing, production, settings, config, data, fitted, exported, comparison, target_id
            )

    def _register(
        self,
        ctx: JobContext,
        firing: FiringInfo,
        production: ModelVersionInfo,
        settings: PolicySettings,
        config: TrainConfig,
        data: RetrainData,
        fitted: Fitted,
        exported: PackagedVersion,
        comparison: dict[str, Any],
        dataset_version_id: int,
    ) -> ModelVersionInfo:
        """The candidate as a child of production, trained on the firing's dataset version."""
        warm = framework(production.framework).warm_starts
        retrain = {
            "policy": firing.model,
            "firing": firing.id,
            "job": ctx.job_id,
            "trigger": firing.trigger,
            "reason": firing.reason,
            "from": production.ref,
            "dataset": data.dataset.ref,
            "method": "warm-start fine-tune" if warm else "refit from scratch",
            "replay": settings.replay if warm else None,
            "rows": data.counts,
            "gate": settings.gate,
        }
        train = config.model_dump(mode="json") if warm else production.params.get("train", {})
        metrics = {
            **exported.metrics,
            "best_epoch": fitted.best_epoch,
            "epochs_run": len(fitted.history),
            "retrain": comparison,
        }
        version = register(
            ctx.store,
            NewVersion(
                model_name=production.model,
                task=production.task,
                framework=production.framework,
                kind=production.kind,
                spec=production.spec,
                weights_path=exported.weights_path,
                params={"train": train, "split": data.split.to_dict(), "retrain": retrain},
                metrics=metrics,
                classes=production.classes,
                onnx_path=exported.onnx_path,
                onnx_note=exported.onnx_note,
                dataset_version_id=dataset_version_id,
                parent_version_id=version_id(ctx.store, production.ref),
                code_version=code_version(),
                files=inherited_files(ctx.store, production),
            ),
            by=actor(firing.model),
        )
        profile_quietly(ctx.store, version.ref)
        return version

    def cleanup(self, store: Store, job: JobInfo) -> None:
        """A failed or cancelled job ends its firing the same way (once: later calls find it ended)."""
        state = CANCELLED if job.state == CANCELLED else FAILED
        detail = job.error or f"its job {job.state}"
        with store.db.session() as session:
            move(
                session,
                int(job.params["firing"]),
                state,
                when=ACTIVE,
                action=f"retrain.{state}",
                detail=detail,
                by=actor(str(job.params["model"])),
            )
        shutil.rmtree(job_dir(store, job.id), ignore_errors=True)


KIND = RetrainKind()
