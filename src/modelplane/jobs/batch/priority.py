"""Letting ONNX Runtime's threads run first in a batch job.

The job's reader and committer threads run beside a runtime that uses every core the job has. Each of
the runtime's parallel operators waits for its slowest thread, so a helper that takes a core from one
of them stalls the whole operator. Two settings make the helpers give way; together they bring the
runtime's calls in a job close to their time in a quiet process (bench/batch.py has the measurements).

- Helper threads run under Linux's SCHED_BATCH policy: their wake-ups no longer preempt the runtime's
  threads. Unlike the idle policy or a high nice value, it keeps a thread's full share of the CPU when
  the machine is busy, so outside load cannot starve the committer, which sees cancels. Any thread may
  take it without privileges.
- A shorter GIL switch interval while the job runs: after each runtime call the main thread needs the GIL
  back, and a helper holding it kept the runtime idle for up to the default 5 ms.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

from modelplane.cores import run_this_thread_under

GIL_SWITCH_S = 0.0005


def give_way_to_the_runtime() -> None:
    """Run the calling thread under SCHED_BATCH (Linux; elsewhere nothing changes)."""
    run_this_thread_under("SCHED_BATCH")


@contextlib.contextmanager
def short_gil_switches(seconds: float = GIL_SWITCH_S) -> Iterator[None]:
    """The process's GIL switch interval at `seconds` inside the block, restored after it."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(seconds)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)
