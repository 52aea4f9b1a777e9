"""Starting job processes: light on imports, so `modelplane worker` can start its first spare before it
imports the store and the pool (the two then import side by side: a worker restarted after a crash runs
its first job ~1 s sooner)."""

from __future__ import annotations

import os
import subprocess
import sys

from modelplane.cores import usable_cores

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "LOKY_MAX_CPU_COUNT")


def job_concurrency(requested: int | None) -> int:
    """Jobs a worker runs at once: as asked, else one per core."""
    return max(1, requested or usable_cores())


def job_threads(concurrency: int) -> int:
    """Threads each job may use, so that `concurrency` jobs share the cores instead of oversubscribing."""
    return max(1, usable_cores() // concurrency)


def start_job_process(threads: int) -> subprocess.Popen[bytes]:
    """A job process for this worker: it imports, then waits for its job's settings on stdin (and ends
    when stdin closes without one, or when this process dies)."""
    env = {**os.environ, **dict.fromkeys(THREAD_VARIABLES, str(threads))}
    command = [sys.executable, "-m", "modelplane.jobs.spare", str(os.getpid())]
    return subprocess.Popen(command, stdin=subprocess.PIPE, env=env)
