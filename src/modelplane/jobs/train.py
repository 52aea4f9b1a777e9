"""Training as a job: the run is created (so validated) when the job is submitted; a worker trains it and,
after a crash, a later attempt resumes it from its last epoch checkpoint."""

from __future__ import annotations

import contextlib
import re
from typing import Any

from modelplane.cluster.connect import cluster_params, job_address
from modelplane.errors import Conflict
from modelplane.jobs.context import JobCancelled, JobContext
from modelplane.jobs.queue import enqueue, list_jobs
from modelplane.jobs.views import CANCELLED, QUEUED, RUNNING, JobInfo
from modelplane.store import Store
from modelplane.training.run_catalog import get_run
from modelplane.training.runs import (
    RESUMABLE,
    RunConfig,
    StopRun,
    continue_run,
    create_run,
    end_run,
)

_CHECKPOINT = re.compile(r"^epoch-(\d+)\.pt$")


def submit_train(store: Store, config: RunConfig, *, by: str) -> JobInfo:
    """Record the run (every check happens here, so a bad config fails now) and queue its training."""
    cluster = cluster_params(store.settings)
    run_id = create_run(store, config, by=by, queued=True)
    run = get_run(store, run_id)
    try:
        return enqueue(
            store,
            "train",
            {"run_id": run_id, "model": run.model_name, **cluster},
            by=by,
            total=config.train.epochs,
            unit="epochs",
            note=f"run {run_id}",
        )
    except BaseException:
        end_run(store, run_id, "failed", "its training job could not be queued")
        raise


def submit_resume(store: Store, run_id: str, *, by: str) -> JobInfo:
    """Queue a job that continues a failed or interrupted run from its last checkpoint."""
    cluster = cluster_params(store.settings)
    run = get_run(store, run_id)
    if run.status not in RESUMABLE:
        raise Conflict(f"run {run.id} has {run.status}; only a failed or interrupted run can be resumed")
    for state in (QUEUED, RUNNING):
        for job in list_jobs(store, state=state, kind="train", limit=10_000):
            if job.params.get("run_id") == run.id:
                raise Conflict(f"run {run.id} is already being trained by job {job.id}")
    return enqueue(
        store,
        "train",
        {"run_id": run.id, "model": run.model_name, **cluster},
        by=by,
        total=int(run.config.get("epochs", 0)) or None,
        unit="epochs",
        note=f"resume run {run.id}",
    )


def _checkpointed_epoch(store: Store, run_id: str) -> int | None:
    folder = store.runs_dir / run_id / "checkpoints"
    found = [int(m.group(1)) for p in folder.glob("epoch-*.pt") if (m := _CHECKPOINT.match(p.name))]
    return max(found) if found else None


def _epoch_line(metrics: dict[str, float]) -> str:
    shown = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items() if k.startswith(("train_", "val_")))
    return f"epoch {int(metrics['epoch'])}: {shown}"


class TrainKind:
    def run(self, ctx: JobContext) -> dict[str, Any]:
        address = job_address(ctx.params, ctx.store.settings)
        if address is not None:
            return self._run_on_ray(ctx, address)
        import torch

        torch.set_num_threads(ctx.threads)
        run_id = str(ctx.params["run_id"])
        epoch = _checkpointed_epoch(ctx.store, run_id)
        if epoch is not None:
            ctx.log(f"resuming run {run_id} from its checkpoint of epoch {epoch}")

        def on_epoch(metrics: dict[str, float]) -> None:
            done = int(metrics["epoch"])
            try:
                ctx.progress(done, line=_epoch_line(metrics))
            except JobCancelled:  # recorded on the run as cancelled, then turned back into the job's cancel
                raise StopRun("cancelled", "cancelled with `modelplane jobs cancel`") from None

        try:
            run = continue_run(ctx.store, run_id, on_epoch=on_epoch)
        except StopRun as stop:
            if stop.status == "cancelled":
                raise JobCancelled from None
            raise
        epochs = int(run.config.get("epochs", 0)) or len(run.history)
        with contextlib.suppress(JobCancelled):  # too late to cancel: the version is registered
            ctx.progress(epochs, total=epochs, line=f"registered {run.model_version}")
        return {"run_id": run.id, "model_version": run.model_version, "test": run.metrics.get("test", {})}

    def _run_on_ray(self, ctx: JobContext, address: str) -> dict[str, Any]:
        """The run trains on the cluster (training/ray_train.py), which records its epochs and registers
        its version in the store; this process follows it, reporting progress and passing on a cancel."""
        from modelplane.cluster.driver import run_on_cluster

        def on_event(event: dict[str, Any]) -> None:
            if "epoch" in event:
                metrics = event["epoch"]
                ctx.progress(int(metrics["epoch"]), line=_epoch_line(metrics))
            elif "line" in event:
                ctx.log(str(event["line"]))

        payload = {"run_id": str(ctx.params["run_id"])}
        result: dict[str, Any] = run_on_cluster(
            ctx, address, "modelplane.training.ray_train:drive", payload, on_event
        )
        return result

    def cleanup(self, store: Store, job: JobInfo) -> None:
        status = "cancelled" if job.state == CANCELLED else "failed"
        end_run(store, str(job.params["run_id"]), status, job.error or f"its job {status}")


KIND = TrainKind()
