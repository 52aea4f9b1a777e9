"""`python -m modelplane.jobs.spare WORKER_PID`: the process a worker starts for each job, ahead of time.

It imports the job machinery, then waits for its job's settings on stdin (so no secret of the database URL
shows in `ps`), runs the job and exits. It dies with the worker that started it, and ignores Ctrl-C: the
worker decides what happens to its jobs when it stops.

A worker starts the next spare the moment it hands a job over, so the spare's imports (~1.2 s of CPU)
compete with the job just starting. On Linux, where the scheduling policy belongs to a thread, the imports
run in a thread under the idle policy and the job in the main thread under the normal one: the spare takes
only CPU nothing else wants, which shortens a batch job (bench/batch.py has the measurement). The price:
a job handed over while every core is busy with other work (say, serving at full load) waits until some
CPU is free for the rest of those imports (on a busy machine, minutes), unless this process may lift the
policy again (root, CAP_SYS_NICE or an RLIMIT_NICE of 20), which it then does as the job arrives.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading

from modelplane.cores import die_with_parent, run_this_thread_under

_POLICY = threading.Lock()  # the importer's switch to the idle policy vs. `_hurry` switching it back
_JOB_ARRIVED = threading.Event()


def _import_in_the_background() -> None:
    """Linux's idle policy runs this thread only on CPU no other thread wants. The imports must not start
    threads, which would inherit the policy (tests/jobs/test_spare.py checks that none do). A job that came
    before this thread got going leaves it at the normal policy (see `_hurry`)."""
    with _POLICY:
        if not _JOB_ARRIVED.is_set():
            run_this_thread_under("SCHED_IDLE")
    with contextlib.suppress(Exception):  # the main thread's own import then raises it where it is seen
        import modelplane.jobs.executor  # noqa: F401


def _hurry(importer: threading.Thread) -> None:
    """A job has arrived: let the rest of its imports run at the normal policy, where that is permitted
    (an unprivileged thread may not leave the idle policy; it then keeps the CPU nothing else wants). Under
    the lock the importer takes to go idle, so a job handed over at once cannot be overtaken by that switch
    (the importer would then starve for the whole import on a busy machine)."""
    with _POLICY:
        _JOB_ARRIVED.set()
        if importer.native_id is not None and importer.is_alive():
            with contextlib.suppress(AttributeError, OSError):
                os.sched_setscheduler(importer.native_id, os.SCHED_OTHER, os.sched_param(0))


def main() -> None:
    die_with_parent(int(sys.argv[1]))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    importer = threading.Thread(target=_import_in_the_background, name="spare-imports", daemon=True)
    importer.start()
    text = sys.stdin.read()
    if not text:  # the worker stopped before it had a job for this process
        return
    _hurry(importer)
    importer.join()
    from modelplane.jobs.executor import run_handed_over_job

    run_handed_over_job(json.loads(text))


if __name__ == "__main__":
    main()
