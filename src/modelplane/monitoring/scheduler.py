"""The monitor scheduler: a thread inside `modelplane up` and `modelplane worker` that queues a `monitor`
job for each deployment that logs, every `MonitoringSpec.every_s`.

Several schedulers on one database are safe: a deployment's turn is claimed by a conditional UPDATE (the
one whose UPDATE moved `next_at` queues the job). A deployment whose previous monitor job has not ended
waits for it rather than piling jobs up behind a slow worker.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from modelplane.jobs.queue import enqueue
from modelplane.jobs.views import QUEUED, RUNNING, JobInfo
from modelplane.serving.deployments import list_deployments
from modelplane.store import Store
from modelplane.store.orm import Job, MonitorSchedule, utcnow
from modelplane.ticker import Ticker

INTERVAL_S = 2.0
SCHEDULER = "monitor-scheduler"


def submit_monitor(store: Store, deployment: str, *, by: str = SCHEDULER) -> JobInfo:
    return enqueue(store, "monitor", {"deployment": deployment}, by=by, note=f"monitor {deployment}")


def queue_due(store: Store, now: datetime) -> list[str]:
    """Queue the monitor jobs that are due at `now`; returns their ids. A deployment seen for the first
    time is first watched one interval from now (its log starts empty)."""
    queued = []
    for info in list_deployments(store):
        every = timedelta(seconds=info.spec.monitoring.every_s)
        if info.spec.monitoring.log_sample == 0:
            continue
        with store.db.session() as session:
            row = session.get(MonitorSchedule, info.name)
            if row is None:
                session.add(MonitorSchedule(deployment=info.name, next_at=now + every))
                try:
                    session.flush()
                except IntegrityError:  # another scheduler added it first
                    session.rollback()
                continue
            if row.job_id is not None:
                state = session.scalar(select(Job.state).where(Job.id == row.job_id))
                if state in (QUEUED, RUNNING):
                    continue
            claimed = session.execute(
                update(MonitorSchedule)
                .where(MonitorSchedule.deployment == info.name, MonitorSchedule.next_at <= now)
                .values(next_at=now + every)
                .execution_options(synchronize_session=False)
            ).rowcount  # type: ignore[attr-defined]
        if not claimed:
            continue
        job = submit_monitor(store, info.name)
        with store.db.session() as session:
            session.execute(
                update(MonitorSchedule).where(MonitorSchedule.deployment == info.name).values(job_id=job.id)
            )
        queued.append(job.id)
    return queued


class MonitorScheduler(Ticker):
    name = "modelplane-monitor"

    def __init__(self, store: Store, *, interval_s: float = INTERVAL_S) -> None:
        super().__init__(interval_s)
        self.store = store

    def tick(self) -> None:
        queue_due(self.store, utcnow())
