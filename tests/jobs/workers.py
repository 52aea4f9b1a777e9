"""`modelplane worker` in a process of its own, as a user starts it, for tests that kill it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil


class WorkerProcess:
    def __init__(self, home: Path, *args: str) -> None:
        self.log = home / f"worker-{len(list(home.glob('worker-*.log')))}.log"
        home.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "modelplane.cli.main", "worker", "--concurrency", "1", *args],
                env={**os.environ, "MODELPLANE_HOME": str(home)},
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def job_process(self) -> psutil.Process | None:
        """The process running its job, if any."""
        children = psutil.Process(self.process.pid).children()
        return children[0] if children else None

    def kill9(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)
