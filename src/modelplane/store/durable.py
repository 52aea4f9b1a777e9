"""Making writes survive a crash: the store's artifacts and a batch job's outputs both write a temp file,
fsync it, rename it and fsync the folder, so a file that exists after a crash is whole."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_path(path: Path) -> None:
    """Flush a file's bytes, or a folder's entries, to disk by path. A rename is durable only once the
    folder holding it is fsynced."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
