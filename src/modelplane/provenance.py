"""Who did something and with which code: recorded on every run, version and alias move."""

from __future__ import annotations

import getpass
import os
import subprocess
from functools import lru_cache

from modelplane import __version__


def current_user() -> str:
    try:
        return os.environ.get("MODELPLANE_USER") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@lru_cache(maxsize=1)
def code_version() -> str:
    """The git SHA of the working directory's repository (with '+dirty'), else the package version."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return f"modelplane-{__version__}"
    return sha.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
