"""`modelplane worker` in a process of its own, as a user starts it, for tests that kill it."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import psutil

from tests.jobs.conftest import until


def job_processes(parent: int) -> list[psutil.Process]:
    """The processes running jobs that `parent` started (`python -m modelplane.jobs.spare`); the spare
    one, still waiting for a job, does not have the store's SQLite database open yet. (Other .db files do
    not count: importing onnxruntime opens a usage database of its own under ~/.cache.)"""
    found = []
    for child in psutil.Process(parent).children():
        try:
            running = any(Path(f.path).name == "modelplane.db" for f in child.open_files())
            if running and "modelplane.jobs.spare" in child.cmdline():
                found.append(child)
        except (psutil.ZombieProcess, psutil.NoSuchProcess):
            continue
    return found


def freeze_between_writes(process: psutil.Process, database: Path) -> None:
    """SIGSTOP `process` at a moment it holds no SQLite write lock, so the test can still write (a
    process frozen in the middle of a commit would block every writer of the store). SIGSTOP takes effect
    only after `kill` returns: the probe waits until every thread has really stopped, or a thread still
    running could take the lock right after the probe let it go."""
    while True:
        process.suspend()
        until(lambda: _stopped(process), what="every thread of the job's process to stop")
        probe = sqlite3.connect(database, timeout=0.2)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.rollback()
            return
        except sqlite3.OperationalError:  # caught mid-commit: let it finish, then try again
            process.resume()
        finally:
            probe.close()


def _stopped(process: psutil.Process) -> bool:
    """Whether every thread of `process` is in the stopped state ("T" in /proc)."""
    states = []
    for task in Path(f"/proc/{process.pid}/task").iterdir():
        try:
            states.append((task / "stat").read_text().rsplit(")", 1)[1].split()[0])
        except (FileNotFoundError, ProcessLookupError):  # a thread that ended meanwhile
            continue
    return all(state in ("T", "t", "Z", "X") for state in states)


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
        children = job_processes(self.process.pid)
        return children[0] if children else None

    def kill9(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)
