"""Tuning as a job: the study is created (so its config and space are checked) when the job is submitted;
a worker runs its trials, and a later attempt after a crash resumes the study to its budget."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelplane.cluster.connect import cluster_params, job_address
from modelplane.errors import Invalid
from modelplane.jobs.context import JobContext
from modelplane.jobs.queue import enqueue
from modelplane.jobs.views import JobInfo
from modelplane.store import Store
from modelplane.tuning.catalog import get_study
from modelplane.tuning.config import parse_tune_config
from modelplane.tuning.studies import check_resumable, create_study, resume
from modelplane.tuning.views import StudyProgress

SESSION_FIELDS = ("parallel", "timeout")


def submit_tune(store: Store, fields: Mapping[str, Any], *, by: str) -> JobInfo:
    """`fields`: a tune config (a new study), or `{"resume": NAME}` plus parallel/timeout for this session.
    With the ray backend, a cluster that does not answer fails here, before the study is created."""
    cluster = cluster_params(store.settings)
    name = fields.get("resume")
    session = {k: fields[k] for k in SESSION_FIELDS if fields.get(k) is not None}
    if name is None:
        config = parse_tune_config(fields)
        name = create_study(store, config, by=by)
        session = {}  # already part of the study's stored settings
    else:
        fixed = sorted(set(fields) - {"resume", *SESSION_FIELDS})
        if fixed:
            raise Invalid(
                f"resuming study {name} keeps its stored settings; drop {', '.join(fixed)} "
                "(only parallel and timeout may change)"
            )
        check_resumable(store, str(name))
    study = get_study(store, str(name))
    return enqueue(
        store,
        "tune",
        {"study": study.name, **session, **cluster},
        by=by,
        total=study.trials_budget,
        unit="trials",
        note=f"study {study.name}",
    )


class TuneKind:
    def run(self, ctx: JobContext) -> dict[str, Any]:
        name = str(ctx.params["study"])
        address = job_address(ctx.params, ctx.store.settings)
        if address is not None:
            from modelplane.jobs.tune_cluster import run_on_ray

            return run_on_ray(ctx, address)

        def on_trial(progress: StudyProgress) -> None:
            ctx.progress(progress.used, line=f"{progress.used} trial(s) done")

        study = resume(
            ctx.store,
            name,
            parallel=ctx.params.get("parallel"),
            timeout=ctx.params.get("timeout"),
            on_trial=on_trial,
        )
        return {"study": study.name, "model_version": study.model_version, "best_value": study.best_value}

    def cleanup(self, store: Store, job: JobInfo) -> None:
        """Nothing to undo: finished trials are kept, and `tune --resume` recovers interrupted ones."""


KIND = TuneKind()
