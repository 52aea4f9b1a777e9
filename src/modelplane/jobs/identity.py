"""Who holds a lease, precisely enough to tell, on the same machine, that the holder is gone.

A lease names its worker by machine (boot id and PID namespace, so containers sharing a kernel differ),
process id and process start time (so a recycled pid is not mistaken for the holder). A worker on the same
machine can then prove the holder dead and take its jobs over at once, instead of waiting for the lease to
expire; on other machines, and off Linux, expiry is the only proof.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

_PROC = Path("/proc")


@lru_cache(maxsize=1)
def _machine() -> str | None:
    try:
        boot = (_PROC / "sys/kernel/random/boot_id").read_text().strip()
        namespace = os.readlink(_PROC / "self/ns/pid")
    except OSError:
        return None
    return f"{boot}/{namespace}"


def _start_time(pid: int) -> str | None:
    """Clock ticks since boot at which `pid` started (field 22 of /proc/PID/stat), None if it is gone."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2 :].split()[19]


@dataclass(frozen=True)
class WorkerIdentity:
    name: str  # host:pid, what users see
    key: str  # what liveness checks read

    @classmethod
    def current(cls) -> WorkerIdentity:
        pid = os.getpid()
        name = f"{socket.gethostname()}:{pid}"
        machine = _machine()
        start = _start_time(pid) if machine else None
        key = f"{machine}|{pid}|{start}" if machine and start else f"host|{name}"
        return cls(name=name, key=key)

    def proves_dead(self, holder_key: str | None) -> bool:
        """True only when `holder_key` names a process on this machine that no longer runs."""
        machine = _machine()
        if holder_key is None or machine is None:
            return False
        parts = holder_key.split("|")
        if len(parts) != 3 or parts[0] != machine:
            return False
        pid, start = int(parts[1]), parts[2]
        return _start_time(pid) != start
