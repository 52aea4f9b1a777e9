"""How many CPUs this process may use: what thread pools and worker counts are sized by everywhere."""

from __future__ import annotations

import os


def usable_cores() -> int:
    """CPUs this process may run on (affinity and cgroup cpusets included where the OS reports them,
    unlike os.cpu_count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1
