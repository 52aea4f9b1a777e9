"""Tuning jobs on a Ray cluster: the worker's side of the job, and `modelplane tune` in the foreground.

The worker hands the search to a driver actor (tuning/ray_tune.py) and records its progress. A worker that
restarts re-attaches and receives every event again, so progress is set (never added) and a trial's log
line is written once: the checkpoint remembers how many trials were logged. Importing this imports no Ray.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from modelplane.jobs.context import JobContext
from modelplane.jobs.views import JobInfo
from modelplane.store import Store
from modelplane.tuning.views import StudyInfo, StudyProgress

LOGGED = "trials_logged"


def run_on_ray(ctx: JobContext, address: str) -> dict[str, Any]:
    """The tune job's work, run by Ray Tune on the cluster at `address`."""
    from modelplane.cluster.driver import run_on_cluster
    from modelplane.jobs.kinds import job_dir
    from modelplane.tuning.ray_tune import TARGET

    payload = {
        "study": ctx.params["study"],
        "parallel": ctx.params.get("parallel"),
        "timeout": ctx.params.get("timeout"),
        "storage_path": str(job_dir(ctx.store, ctx.job_id) / "ray-tune"),
        "experiment": f"tune-{ctx.job_id}",
    }

    def on_event(event: dict[str, Any]) -> None:
        used, logged = int(event["used"]), int(ctx.checkpoint.get(LOGGED, 0))
        ctx.progress(
            used,
            checkpoint={**ctx.checkpoint, LOGGED: max(used, logged)},
            line=str(event["line"]) if used > logged else None,
        )

    result: dict[str, Any] = run_on_cluster(ctx, address, TARGET, payload, on_event)
    return result


def tune_here(
    store: Store,
    fields: Mapping[str, Any],
    *,
    by: str,
    on_trial: Callable[[StudyProgress], None] | None = None,
) -> StudyInfo:
    """`modelplane tune` with the ray backend: submit the study as a job, run it from here on the cluster
    until it ends (Ctrl-C cancels it; `--resume` goes on), and return the finished study."""
    from modelplane.jobs.follow import succeeded
    from modelplane.jobs.foreground import run_here
    from modelplane.jobs.tune import submit_tune
    from modelplane.tuning.catalog import get_study
    from modelplane.tuning.studies import StudyInterrupted

    job = submit_tune(store, fields, by=by)
    name = str(job.params["study"])
    shown = [-1]

    def on_update(update: JobInfo) -> None:
        if on_trial is not None and update.progress.done != shown[0]:
            shown[0] = update.progress.done
            on_trial(_progress(store, name))

    try:
        succeeded(run_here(store, job.id, by=by, on_update=on_update))
    except KeyboardInterrupt:
        raise StudyInterrupted(
            f"interrupted; finished trials are kept: `modelplane tune --resume {name}` goes on"
        ) from None
    return get_study(store, name)


def _progress(store: Store, name: str) -> StudyProgress:
    from modelplane.tuning.storage import load_study, open_storage, storage_url
    from modelplane.tuning.summaries import study_view

    view = study_view(load_study(open_storage(storage_url(store)), name), detail=False)
    return StudyProgress(
        used=view.trials_done,
        budget=view.trials_budget,
        metric=view.metric,
        best_value=view.best_value,
        best_trial=view.best_trial,
        pruned=view.states.get("pruned", 0),
        failed=view.states.get("failed", 0),
    )
