"""A store the size issue #20 names for the console's page-time target: 1,000 runs, 100 models of 10
versions and 50 deployments, plus the jobs, usage and audit rows such a store has.

One real run is trained (an MLP on iris, 5 epochs, so runs have per-epoch curves) and deployed; the rest
are copies of its rows made through the ORM in a few bulk inserts, so every page reads well-formed rows of
the shapes the platform writes, and filling takes seconds instead of an hour of training.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import insert, select

from modelplane.store.orm import (
    Alias,
    AliasEvent,
    Deployment,
    Job,
    ModelVersion,
    ModelVersionArtifact,
    RegisteredModel,
    Run,
    RunMetric,
    Usage,
    utcnow,
)

RUNS = 1000
MODELS = 100
VERSIONS = 10
DEPLOYMENTS = 50
JOBS = 300
STUDY, STUDY_TRIALS = "iris-logreg", 20


@dataclass(frozen=True)
class Filled:
    run_ids: list[str]
    models: list[str]
    deployments: list[str]
    job_ids: list[str]
    dataset: str
    study: str


def fill(home: Path) -> Filled:
    import modelplane

    local = modelplane.Local(home)
    local.datasets.add("iris", source="builtin:iris")
    run = local.train(data="iris", model="mlp", train={"epochs": 5})
    local.models.alias(str(run.model_version), "production")
    local.deploy({"model": "iris-mlp@production"})
    local.tune(data="iris", model="logreg", trials=STUDY_TRIALS, name=STUDY)
    store = local.store
    with store.db.session() as db:
        seed_run = db.get(Run, run.id)
        assert seed_run is not None
        seed_epochs = [(m.epoch, m.name, m.value) for m in seed_run.epochs]
        seed_version = db.scalars(select(ModelVersion).where(ModelVersion.run_id == run.id)).one()
        seed_files = [(a.format, a.sha256, a.size) for a in seed_version.artifacts]
        seed_spec = db.scalars(select(Deployment.spec)).one()
        run_columns = {c.key: getattr(seed_run, c.key) for c in Run.__table__.columns}
        version_columns = {c.key: getattr(seed_version, c.key) for c in ModelVersion.__table__.columns}
        seed_model_task = seed_version.model.task

        run_ids = [uuid.uuid4().hex[:12] for _ in range(RUNS - 1)]
        now = utcnow()
        db.execute(
            insert(Run),
            [
                {
                    **run_columns,
                    "id": rid,
                    "started_at": now - timedelta(minutes=i),
                    "duration_s": 3.0 + i % 17,
                    "metrics": _nudged(run_columns["metrics"], i),
                }
                for i, rid in enumerate(run_ids)
            ],
        )
        db.execute(
            insert(RunMetric),
            [
                {"run_id": rid, "epoch": epoch, "name": name, "value": value * (1 + (i % 7) / 100)}
                for i, rid in enumerate(run_ids)
                for epoch, name, value in seed_epochs
            ],
        )
        models = [f"model-{m:03d}" for m in range(MODELS)]
        db.execute(insert(RegisteredModel), [{"name": n, "task": seed_model_task} for n in models])
        model_ids = dict(db.execute(select(RegisteredModel.name, RegisteredModel.id)).tuples().all())
        versions = [
            {
                **version_columns,
                "id": None,
                "model_id": model_ids[n],
                "version": v,
                "run_id": run_ids[(m * VERSIONS + v) % len(run_ids)],
                "created_at": now - timedelta(hours=VERSIONS - v),
            }
            for m, n in enumerate(models)
            for v in range(1, VERSIONS + 1)
        ]
        for row in versions:
            row.pop("id")
        db.execute(insert(ModelVersion), versions)
        version_ids = {
            (mid, v): vid
            for vid, mid, v in db.execute(
                select(ModelVersion.id, ModelVersion.model_id, ModelVersion.version)
            )
        }
        db.execute(
            insert(ModelVersionArtifact),
            [
                {"version_id": version_ids[(model_ids[n], v)], "format": fmt, "sha256": sha, "size": size}
                for n in models
                for v in range(1, VERSIONS + 1)
                for fmt, sha, size in seed_files
            ],
        )
        db.execute(
            insert(Alias),
            [
                {"model_id": model_ids[n], "name": alias, "version_id": version_ids[(model_ids[n], v)]}
                for n in models
                for alias, v in (("production", VERSIONS - 1), ("staging", VERSIONS))
            ],
        )
        db.execute(
            insert(AliasEvent),
            [
                {
                    "model_id": model_ids[n],
                    "alias": "production",
                    "from_version": v - 1 or None,
                    "to_version": v,
                }
                for n in models
                for v in range(1, VERSIONS)
            ],
        )
        deployments = [f"deploy-{d:02d}" for d in range(DEPLOYMENTS - 1)]
        db.execute(
            insert(Deployment),
            [
                {"name": name, "spec": {**copy.deepcopy(seed_spec), "model": f"{models[d]}@production"}}
                for d, name in enumerate(deployments)
            ],
        )
        job_ids = [uuid.uuid4().hex for _ in range(JOBS)]
        db.execute(
            insert(Job),
            [
                {
                    "id": jid,
                    "kind": "train",
                    "state": "succeeded" if i % 10 else "failed",
                    "params": {"data": "iris", "model": "mlp"},
                    "progress_done": 5,
                    "progress_total": 5,
                    "progress_unit": "epochs",
                    "created_at": now - timedelta(minutes=i),
                    "finished_at": now - timedelta(minutes=i) + timedelta(seconds=4),
                }
                for i, jid in enumerate(job_ids)
            ],
        )
        today = date.today()
        db.execute(
            insert(Usage),
            [
                {
                    "key_id": f"{k:012x}",
                    "deployment": name,
                    "version": f"{models[d]}@{VERSIONS - 1}",
                    "day": today - timedelta(days=day),
                    "status": "ok",
                    "requests": 1000 + day,
                    "samples": 4000 + day,
                }
                for k in range(5)
                for d, name in enumerate(deployments)
                for day in range(30)
            ],
        )
    local.close()
    return Filled([run.id, *run_ids], models, ["iris-mlp", *deployments], job_ids, "iris", STUDY)


def _nudged(metrics: dict[str, object], i: int) -> dict[str, object]:
    """The seed run's metrics, a little different per copy, so sorting by them means something."""
    out = copy.deepcopy(metrics)
    for split in out.values():
        if isinstance(split, dict):
            for name, value in split.items():
                if isinstance(value, float):
                    split[name] = value * (1 - (i % 13) / 100)
    return out
