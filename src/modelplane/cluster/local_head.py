"""A Ray head of this machine's own, on the loopback address: what `up --backend ray` starts when no
cluster is named and none runs here, and what the tests and benchmarks run against."""

from __future__ import annotations

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

from modelplane.errors import ModelplaneError

_START_S = 60.0
_STOP_S = 10.0


class HeadFailed(ModelplaneError):
    """`ray start --head` did not come up."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def local_head(cpus: int = 2) -> Iterator[str]:
    """Start a head (`ray start --head --block`) on a free loopback port, yield its address, and stop this
    head only (not others on the machine, as `ray stop` would) on the way out."""
    port = free_port()
    temp = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))  # short: Ray's socket paths have a length limit
    ray = Path(sys.executable).with_name("ray")
    command = [str(ray), "start", "--head", "--block", "--node-ip-address", "127.0.0.1", "--port", str(port)]
    command += ["--num-cpus", str(cpus), "--include-dashboard=false", "--disable-usage-stats"]
    command += ["--temp-dir", str(temp)]
    quiet = subprocess.DEVNULL
    # Ray >= 2.5x turns token auth on for a head started where ~/.ray/auth_token exists (any earlier bare
    # `ray.init()` writes one), and a driver joining by address does not send it: this head listens on
    # the loopback address only, for this machine's processes, so it runs without.
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    head = subprocess.Popen(command, stdout=quiet, stderr=quiet, start_new_session=True, env=env)
    address = f"127.0.0.1:{port}"
    try:
        wait_for_head(address, _START_S, head)
        yield address
    finally:
        head.send_signal(signal.SIGTERM)
        try:
            head.wait(_STOP_S)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
        shutil.rmtree(temp, ignore_errors=True)


def wait_for_head(address: str, timeout_s: float, head: subprocess.Popen[bytes] | None = None) -> None:
    """Until the head's port answers; HeadFailed if its process ends first or time runs out."""
    host, _, port = address.rpartition(":")
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            socket.create_connection((host, int(port)), timeout=0.5).close()
            return
        except OSError:
            if head is not None and head.poll() is not None:
                code = head.returncode
                raise HeadFailed(f"`ray start --head` exited ({code}) before {address} answered") from None
            if time.monotonic() > deadline:
                raise HeadFailed(f"no Ray head answers at {address} after {timeout_s:g}s") from None
            time.sleep(0.1)
