"""`modelplane up`: the curl line it prints works when pasted into a shell, and --public-docs opens the API
docs (only them) to callers without a key."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from modelplane.cli.up import _curl
from tests.net import free_port

KEY = "mp_0123456789ab_" + "A-b_" * 10 + "xyz"


def _pasted(line: str, env: dict[str, str]) -> list[str]:
    """The arguments curl would receive if `line` were pasted into bash (curl is a function printing them)."""
    script = 'curl() { printf "%s\\n" "$@"; }\n' + line
    done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, check=True)
    return done.stdout.splitlines()


def test_the_curl_line_of_a_second_run_expands_the_key_variable() -> None:
    line = _curl("http://127.0.0.1:8000", "$MODELPLANE_API_KEY", [0.0, 3.0])
    args = _pasted(line, {"PATH": os.environ["PATH"], "MODELPLANE_API_KEY": KEY})
    assert args[args.index("-H") + 1] == f"Authorization: Bearer {KEY}"
    assert args[-1] == '{"instances":[[0,3]]}'


def test_the_curl_line_of_a_first_run_sends_the_key_itself() -> None:
    args = _pasted(_curl("http://127.0.0.1:8000", KEY, [1.0]), {"PATH": os.environ["PATH"]})
    assert args[args.index("-H") + 1] == f"Authorization: Bearer {KEY}"
    assert "http://127.0.0.1:8000/v1/predict/digits-cnn" in args


def test_without_auth_the_curl_line_sends_no_header() -> None:
    assert "-H" not in _pasted(_curl("http://127.0.0.1:8000", None, [1.0]), {"PATH": os.environ["PATH"]})


def test_public_docs_open_the_docs_and_nothing_else(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "up.log"
    args = ["up", "--port", str(port), "--grpc-port", "-1", "--public-docs", "--workers", "1"]
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "modelplane.cli.main", *args],
            env={**os.environ, "MODELPLANE_HOME": str(tmp_path / "home"), "COLUMNS": "200"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            try:
                docs = httpx.get(f"{url}/docs", timeout=5)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert docs.status_code == 200 and "swagger-ui" in docs.text
        assert httpx.get(f"{url}/openapi.json").json()["info"]["title"] == "modelplane"
        assert httpx.get(f"{url}/api/v1/models").status_code == 401
        banner = log.read_text()
        assert re.search(rf"API docs {url}/docs, metrics", banner), banner
        assert banner.splitlines()[0].startswith(f"console: {url}/"), banner  # the first line names it
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
