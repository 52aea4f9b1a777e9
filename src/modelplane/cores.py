"""The CPUs this process may use (what thread pools and worker counts are sized by everywhere), and how a
thread of it yields them to the others."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time


def usable_cores() -> int:
    """CPUs this process may run on (affinity and cgroup cpusets included where the OS reports them,
    unlike os.cpu_count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def run_this_thread_under(policy: str) -> None:
    """Put the calling thread under Linux's scheduling policy `policy` ("SCHED_IDLE", "SCHED_BATCH");
    elsewhere, or where it is refused, nothing changes. Linux keeps the policy per thread, and threads this
    one starts inherit it."""
    with contextlib.suppress(AttributeError, OSError):  # no such policy here, or not allowed
        os.sched_setscheduler(threading.get_native_id(), getattr(os, policy), os.sched_param(0))


def die_with_parent(parent: int) -> None:
    """A child process must not outlive the process that started it, even a kill -9 of that one: on Linux
    the kernel SIGKILLs this process when its parent dies; elsewhere a thread watches for the parent to go."""
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
