"""README.md runs as written: its shell and Python blocks, in order, as a newcomer would type them.

Each block runs against a fresh MODELPLANE_HOME in a folder holding small stand-ins for the reader's files
(standins.py) and the README's own files (a block whose first line is `# run.yaml` is run.yaml). Where the
README starts the platform (a block marked `server`) the test starts `modelplane up` itself on a free port and
reads the admin key it prints; from then on `127.0.0.1:8000` and `mp_...` in the README mean that server and
that key. A failure names the README line, the command, its exit code and the end of what it printed."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.readme.blocks import README, SHELL, Block, read_blocks
from tests.readme.shell import Server, Shell
from tests.readme.standins import write_standins, write_venv

COMMAND_TIMEOUT_S = 240
README_RAY_HEAD = "127.0.0.1:6379"  # the head the README starts, as a reader's commands name it


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _failure(line: int, command: str, result: subprocess.CompletedProcess[str], server: Server | None) -> str:
    message = (
        f"README.md:{line}: `{command.strip()}` exited {result.returncode}\n"
        f"--- stderr (last lines)\n{_tail(result.stderr)}\n"
        f"--- stdout (last lines)\n{_tail(result.stdout, 10)}"
    )
    if server is not None:
        message += f"\n--- modelplane up (last lines)\n{server.log_tail()}"
    return message


def _python_line(block: Block, script: Path, stderr: str) -> int:
    """The README line a snippet failed on: the last frame of the traceback that is in the snippet."""
    frames = re.findall(rf'File "{re.escape(str(script))}", line (\d+)', stderr)
    return block.line + int(frames[-1]) - 1 if frames else block.line


@pytest.fixture
def shell(tmp_path: Path) -> Shell:
    work = tmp_path / "work"
    work.mkdir()
    write_standins(work)
    write_venv(work)
    for block in read_blocks(README):
        if block.file_name:
            (work / block.file_name).write_text(block.text)
    # Every curl of the README fails on an HTTP error, as `curl -s` alone would not.
    (tmp_path / ".curlrc").write_text("fail-with-body\n")
    env = {
        **os.environ,
        "MODELPLANE_HOME": str(tmp_path / "home"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "CURL_HOME": str(tmp_path),
        "COLUMNS": "160",
    }
    return Shell(tmp_path, work, env)


def _run(shell: Shell, text: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    try:
        result = shell.run(text, COMMAND_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else exc.stderr or ""
        result = subprocess.CompletedProcess(text, -1, out, f"{err}\n(still running after {exc.timeout:g} s)")
    return result, time.monotonic() - started


def test_readme_runs_as_written(shell: Shell, tmp_path: Path, ray_address: str) -> None:
    timings: list[tuple[float, int]] = []
    with contextlib.ExitStack() as stack:
        server: Server | None = None
        ray_head: str | None = None

        def rewrite(text: str) -> str:
            text = server.rewrite(text) if server else text
            return text.replace(README_RAY_HEAD, ray_head) if ray_head else text

        for block in read_blocks(README):
            if block.marker == "skip" or block.file_name:
                continue
            if block.marker == "server":
                server = Server(shell.env(), tmp_path / "up.log")
                stack.callback(server.stop)
                continue
            if block.marker == "ray":  # the session's head stands for the one the README starts
                ray_head = ray_address
                continue
            if block.lang in SHELL:
                for command in block.commands():
                    result, seconds = _run(shell, rewrite(command.text))
                    timings.append((seconds, command.line))
                    if result.returncode != 0:
                        pytest.fail(_failure(command.line, command.text, result, server), pytrace=False)
            elif block.lang == "python":
                script = tmp_path / f"readme-{block.line}.py"
                script.write_text(rewrite(block.text))
                result, seconds = _run(shell, f"{shlex.quote(sys.executable)} {shlex.quote(str(script))}")
                timings.append((seconds, block.line))
                if result.returncode != 0:
                    line = _python_line(block, script, result.stderr)
                    pytest.fail(_failure(line, block.lines[line - block.line], result, server), pytrace=False)
    total = sum(s for s, _ in timings)
    slowest = ", ".join(f"README.md:{line} {s:.1f} s" for s, line in sorted(timings, reverse=True)[:6])
    print(f"README: {len(timings)} commands in {total:.0f} s; slowest {slowest}")
