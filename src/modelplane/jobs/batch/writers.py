"""Waiting for a job's Ray actors to stop writing its parts before its folder is removed.

A cancelled or failed job's driver actor is killed at once, but the actors of its pool die a moment later
and, until then, keep committing parts: a cleanup that ran meanwhile left parts behind. So each actor holds
an exclusive lock on a file of its own in the parts folder for its whole life (the kernel drops it when the
process dies), and the cleanup takes each of those locks before it removes the folder.
"""

from __future__ import annotations

import fcntl
import os
import time
import uuid
from pathlib import Path

_PREFIX = ".writer-"
_POLL_S = 0.05


def hold_writer_lock(folder: Path) -> int:
    """Lock a new file in `folder` for as long as this process lives; its descriptor (kept open)."""
    fd = os.open(folder / f"{_PREFIX}{uuid.uuid4().hex}", os.O_CREAT | os.O_RDWR, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def wait_for_writers(folder: Path, timeout_s: float = 15.0) -> bool:
    """Wait until no process holds a writer lock in `folder`; False if one still did after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    for path in folder.glob(f"{_PREFIX}*"):
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            continue
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        return False
                    time.sleep(_POLL_S)
        finally:
            os.close(fd)
    return True
