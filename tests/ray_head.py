"""The Ray head the Ray tests run against (see the `ray_address` fixture in tests/conftest.py)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.net import free_port

_START_S = 60.0


@contextmanager
def ray_head() -> Iterator[str]:
    given = os.environ.get("MODELPLANE_TEST_RAY_ADDRESS")
    if given:
        _wait_for(given, 5.0)
        yield given
        return
    if importlib.util.find_spec("ray") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Ray is not installed, and CI must run the Ray tests: make install-dev installs it")
        pytest.skip("Ray is not installed (pip install 'modelplane[ray]' to run this test)")
    port = free_port()
    temp = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))  # short: Ray's socket paths have a length limit
    ray = Path(sys.executable).with_name("ray")
    command = [str(ray), "start", "--head", "--block", "--node-ip-address", "127.0.0.1", "--port", str(port)]
    command += [
        "--num-cpus",
        "2",
        "--include-dashboard=false",
        "--disable-usage-stats",
        "--temp-dir",
        str(temp),
    ]
    head = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    address = f"127.0.0.1:{port}"
    try:
        _wait_for(address, _START_S, head)
        yield address
    finally:
        head.send_signal(signal.SIGTERM)
        try:
            head.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
        shutil.rmtree(temp, ignore_errors=True)


def _wait_for(address: str, timeout_s: float, head: subprocess.Popen[bytes] | None = None) -> None:
    host, _, port = address.rpartition(":")
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            socket.create_connection((host, int(port)), timeout=0.5).close()
            return
        except OSError:
            if head is not None and head.poll() is not None:
                pytest.fail(f"`ray start --head` exited with code {head.returncode} before its port answered")
            if time.monotonic() > deadline:
                pytest.fail(f"no Ray head answers at {address} after {timeout_s:g}s")
            time.sleep(0.1)
