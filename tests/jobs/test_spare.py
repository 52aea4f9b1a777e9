"""A spare job process imports in a thread under the idle policy; those imports must start no thread,
which would inherit the policy and then starve whenever the machine is busy."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread scheduling is Linux's")
def test_the_spares_imports_start_no_thread() -> None:
    code = "import os, modelplane.jobs.executor; print(len(os.listdir('/proc/self/task')))"
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "1"
