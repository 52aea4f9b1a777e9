"""Running one claimed job: the kind's code with its context, and the job's end recorded whatever happens.
In a worker, this runs in a process of its own (modelplane/jobs/spare.py)."""

from __future__ import annotations

import logging
import traceback
from dataclasses import replace
from typing import Any

from sqlalchemy import select

from modelplane.errors import ModelplaneError
from modelplane.jobs.context import JobCancelled, JobContext
from modelplane.jobs.kinds import get_kind
from modelplane.jobs.lease import Lease, LeaseLost, finish
from modelplane.jobs.queue import get_job
from modelplane.jobs.views import CANCELLED, FAILED, SUCCEEDED
from modelplane.store import Store
from modelplane.store.orm import Job

log = logging.getLogger(__name__)


def execute(store: Store, lease: Lease, *, threads: int) -> str | None:
    """Run the job `lease` holds; returns how it ended, or None when the lease was lost on the way."""
    with store.db.session() as session:
        row = session.get_one(Job, lease.job_id)
        ctx = JobContext(
            store,
            lease,
            params=dict(row.params),
            checkpoint=dict(row.checkpoint),
            done=row.progress_done,
            threads=threads,
        )
    kind = get_kind(lease.kind)
    try:
        result = kind.run(ctx)
    except LeaseLost:
        log.warning("job %s: another worker holds it now; stopped without writing", lease.job_id)
        return None
    except JobCancelled:
        # Cleaned up before it reads `cancelled`, so a cancelled job has left nothing behind. (Safe while
        # it is ours: a job being cancelled is ended by whoever finds it orphaned, never taken over.)
        with store.db.session() as session:
            who = session.scalar(select(Job.cancelled_by).where(Job.id == lease.job_id)) or "unknown"
        error = f"cancelled by {who}"
        kind.cleanup(store, replace(get_job(store, lease.job_id), state=CANCELLED, error=error))
        finish(store, lease, CANCELLED, error=error)
        return CANCELLED
    except ModelplaneError as exc:
        state, ended = FAILED, finish(store, lease, FAILED, error=str(exc))
    except Exception as exc:
        detail = traceback.format_exc().rstrip()
        state, ended = (
            FAILED,
            finish(store, lease, FAILED, error=f"{type(exc).__name__}: {exc}", lines=(detail,)),
        )
    else:
        return SUCCEEDED if finish(store, lease, SUCCEEDED, result=result) else None
    if ended:
        kind.cleanup(store, get_job(store, lease.job_id))
    return state


def run_handed_over_job(handover: dict[str, Any]) -> None:
    """Run the job a worker handed to this process: the handover names the store, the lease and the threads
    it may use (pool.py writes it to a spare process's stdin)."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s job: %(message)s")
    store = Store.from_handover(handover)
    try:
        execute(store, Lease(**handover["lease"]), threads=int(handover["threads"]))
    finally:
        store.close()
