"""Running one claimed job: the kind's code with its context, and the job's end recorded whatever happens.

`python -m modelplane.jobs.executor` is the process a worker starts for each job (its settings come on
stdin, so no secret of the database URL shows in `ps`). The process dies with the worker that started it,
and ignores Ctrl-C: the worker decides what happens to its jobs when it stops.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import signal
import sys
import threading
import time
import traceback
from dataclasses import replace
from pathlib import Path

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


def _die_with_parent(parent: int) -> None:
    """A worker killed with -9 must not leave its jobs' processes running: the kernel kills this one when
    its parent dies (Linux); elsewhere a thread watches for the parent to go."""
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    else:

        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(0.5)
            os._exit(1)

        threading.Thread(target=watch, daemon=True).start()
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(1)


def main() -> None:
    """`python -m modelplane.jobs.executor WORKER_PID`: import everything, then wait for the job on stdin.
    A worker keeps one such process ready, so a claimed job starts without paying for the imports."""
    _die_with_parent(int(sys.argv[1]))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    text = sys.stdin.read()
    if not text:  # the worker stopped before it had a job for this process
        return
    config = json.loads(text)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s job: %(message)s")
    store = Store(config["database_url"], Path(config["artifact_root"]), Path(config["runs_dir"]))
    try:
        execute(store, Lease(**config["lease"]), threads=int(config["threads"]))
    finally:
        store.close()


if __name__ == "__main__":
    main()
