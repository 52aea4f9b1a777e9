"""A newcomer's terminal for the README test: bash commands whose exported variables and working directory
carry over from one to the next, and the `modelplane up` the README's server section stands for."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import time
from pathlib import Path

from tests.net import free_port

KEY = re.compile(r"mp_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")
# Variables of the test's own environment a reader's shell would not have: they would point the README's
# commands at another store or server.
FOREIGN = (
    "MODELPLANE_URL",
    "MODELPLANE_API_KEY",
    "MODELPLANE_DATABASE_URL",
    "MODELPLANE_ARTIFACT_ROOT",
    "MODELPLANE_RAY_ADDRESS",
    "MODELPLANE_BACKEND",
)


class Shell:
    """Runs each command in a fresh `bash`, which first restores what the previous command left exported (and
    its directory) and saves both again on exit, as one interactive shell would keep them."""

    def __init__(self, state_dir: Path, cwd: Path, env: dict[str, str]) -> None:
        self.state = state_dir / "shell-state.sh"
        exports = [f"export {k}={shlex.quote(v)}" for k, v in env.items() if k not in FOREIGN]
        self.state.write_text("\n".join([*exports, f"cd {shlex.quote(str(cwd))}"]) + "\n")

    def run(self, command: str, timeout: float) -> subprocess.CompletedProcess[str]:
        state = shlex.quote(str(self.state))
        save = f'{{ export -p; printf "cd %q\\n" "$PWD"; }} > {state}'
        script = f"source {state}\ntrap {shlex.quote(save)} EXIT\n{command}\n"
        return subprocess.run(
            ["bash", "-c", script], env={}, capture_output=True, text=True, timeout=timeout, check=False
        )

    def env(self) -> dict[str, str]:
        """The environment a program started from this shell now would get."""
        dumped = subprocess.run(
            ["bash", "-c", f"source {shlex.quote(str(self.state))}; env -0"],
            env={},
            capture_output=True,
            check=True,
        ).stdout.decode()
        return dict(item.split("=", 1) for item in dumped.split("\0") if "=" in item)


class Server:
    """`modelplane up` on free 127.0.0.1 ports with the shell's environment; the admin key is read from what
    it prints, as a reader copies it from the terminal."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port, grpc_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        args = ["modelplane", "up", "--port", str(self.port), "--grpc-port", str(grpc_port), "--poll", "0.2"]
        with log.open("w") as out:
            self.process = subprocess.Popen(
                args, env={**env, "COLUMNS": "200"}, stdout=out, stderr=subprocess.STDOUT
            )
        self.admin_key = self._wait_for_key()

    def _wait_for_key(self) -> str:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            text = self.log.read_text()
            if "gRPC" in text and (found := KEY.search(text)):
                return found.group(0)
            if self.process.poll() is not None:
                raise RuntimeError(f"modelplane up exited ({self.process.returncode}):\n{text}")
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"modelplane up did not start within 60 s:\n{self.log.read_text()}")

    def rewrite(self, text: str) -> str:
        """The README's address and key placeholder, as the reader's own values."""
        for address in ("127.0.0.1:8000", "localhost:8000"):
            text = text.replace(address, f"127.0.0.1:{self.port}")
        return text.replace("mp_...", self.admin_key)

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text().splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
