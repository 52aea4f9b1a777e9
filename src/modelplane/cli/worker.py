"""`modelplane worker`: run jobs from the store without the rest of the platform, on any machine that
reaches it (MODELPLANE_HOME / MODELPLANE_DATABASE_URL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from modelplane.cli.backend import BackendOption, use_backend
from modelplane.cli.output import server_logging


def worker(
    concurrency: Annotated[
        int | None, typer.Option(help="Jobs run at once (default: one per CPU core)")
    ] = None,
    until_idle: Annotated[bool, typer.Option("--until-idle", help="Exit once no job is left to run")] = False,
    lease: Annotated[
        float, typer.Option(help="Seconds without a heartbeat after which another worker takes a job over")
    ] = 30.0,
    backend: BackendOption = None,
) -> None:
    """Run queued jobs (training, batch prediction, retraining) and fire retrain policies; Ctrl-C stops,
    and its jobs resume later."""
    from modelplane.jobs.spawn import job_concurrency, job_threads, start_job_process

    use_backend(backend)
    # The first job process imports while this one does (a worker restarted after a crash resumes sooner).
    spare = start_job_process(job_threads(job_concurrency(concurrency)))
    try:
        from modelplane.jobs.pool import PoolOptions, WorkerPool
        from modelplane.monitoring.scheduler import MonitorScheduler
        from modelplane.retrain.watcher import RetrainWatcher
        from modelplane.store import Store

        server_logging()
        store = Store.from_settings()
    except BaseException:
        spare.kill()
        spare.wait()
        raise
    options = PoolOptions(concurrency=concurrency, until_idle=until_idle, lease_s=lease)
    pool = WorkerPool(store, options, spare=spare)
    watcher = RetrainWatcher(store).start()
    # A worker that leaves when idle does not schedule: its monitor jobs would keep it from ever being idle.
    monitor = None if until_idle else MonitorScheduler(store).start()
    signal.signal(signal.SIGTERM, lambda *_: pool.stop())
    try:
        pool.run()
    except KeyboardInterrupt:
        pass  # run() has ended its jobs' processes and queued them again
    finally:
        watcher.stop()
        if monitor is not None:
            monitor.stop()
        store.close()


def ensure_worker() -> Path | None:
    """Used in-process (no MODELPLANE_URL): a queued job needs a worker on this store, so start one in the
    background (it exits when no job is left) unless one runs already. Returns its log file."""
    from modelplane.cli.context import platform
    from modelplane.config import get_settings
    from modelplane.jobs.pool import live_workers
    from modelplane.local import Local

    local = platform()
    if not isinstance(local, Local) or live_workers(local.store):
        return None
    log = get_settings().home / "logs" / f"worker-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        subprocess.Popen(
            [sys.executable, "-m", "modelplane.cli.main", "worker", "--until-idle"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return log
