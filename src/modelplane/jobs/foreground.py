"""One job run in the foreground of a command (`modelplane batch` without --background): a one-job worker in
this process, followed until the job ends. Ctrl-C cancels the job, and waits for it to stop and clean up."""

from __future__ import annotations

from collections.abc import Callable

from modelplane.jobs.follow import wait_for
from modelplane.jobs.pool import PoolOptions, WorkerPool
from modelplane.jobs.queue import cancel_job, get_job
from modelplane.jobs.views import JobInfo
from modelplane.store import Store


def run_here(
    store: Store, job_id: str, *, by: str, on_update: Callable[[JobInfo], None] | None = None
) -> JobInfo:
    """Run the job here (unless a worker already took it: then just follow it) until it ends."""
    pool = WorkerPool(store, PoolOptions(concurrency=1, only=frozenset({job_id}))).start()
    try:
        try:
            return wait_for(lambda: get_job(store, job_id), on_update=on_update)
        except KeyboardInterrupt:
            if not get_job(store, job_id).finished:
                cancel_job(store, job_id, by=by)
                wait_for(lambda: get_job(store, job_id))
            raise
    finally:
        pool.stop()
