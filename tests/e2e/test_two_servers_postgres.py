"""Two `modelplane up` processes on one PostgreSQL database, driven by concurrent clients through both:
jobs run once each, alias moves are all recorded and chain in the audit ledger, a deployment made through
one server is served by the other, and usage adds up exactly."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from modelplane.client import Client
from modelplane.jobs.views import JobInfo
from modelplane.security.metering import usage_report
from modelplane.store import Store
from tests.net import free_port

KEY = re.compile(r"mp_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")
IRIS_COLUMNS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
ROW = [5.1, 3.5, 1.4, 0.2]
PREDICT = {"instances": [ROW]}
JOBS = 8
MODEL = "iris-logreg"
T = TypeVar("T")


class Server:
    """`modelplane up` in its own process on the shared home and database; stopped by `stop` (idempotent)."""

    def __init__(self, home: Path, database_url: str, name: str) -> None:
        self.url = f"http://127.0.0.1:{free_port()}"
        self.log = home / f"{name}.log"
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                [
                    *(sys.executable, "-m", "modelplane.cli.main", "up"),
                    *("--port", self.url.rsplit(":", 1)[1], "--grpc-port", "-1", "--workers", "2"),
                ],
                env={
                    **os.environ,
                    "MODELPLANE_HOME": str(home),
                    "MODELPLANE_DATABASE_URL": database_url,
                    "COLUMNS": "200",
                },
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def wait_for(self, ready: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + 60
        while not ready():
            if self.process.poll() is not None:
                raise RuntimeError(f"up exited:\n{self.log.read_text()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"up did not {what} within 60 s:\n{self.log.read_text()}")
            time.sleep(0.1)

    def made_key(self) -> bool:
        return KEY.search(self.log.read_text()) is not None

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/v2/health/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def admin_key(self) -> str:
        found = KEY.search(self.log.read_text())
        assert found, f"up printed no admin key:\n{self.log.read_text()}"
        return found.group(0)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def servers(pg_database: str, tmp_path: Path) -> Iterator[tuple[Server, Server]]:
    """A, then B once A has made the admin key (B finds it made), both stopped even when the test fails."""
    home = tmp_path / "shared-home"
    home.mkdir()
    started: list[Server] = []
    try:
        started.append(Server(home, pg_database, "a"))
        started[0].wait_for(started[0].made_key, "make the admin key")
        started.append(Server(home, pg_database, "b"))
        for server in started:
            server.wait_for(server.ready, "become ready")
        yield started[0], started[1]
    finally:
        for server in started:
            server.stop()


def _spread(count: int, work: Callable[[int], T]) -> list[T]:
    """work(0..count-1) on 8 threads at once; the results in order (the first failure raises)."""
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(work, range(count)))


def _eventually(check: Callable[[], bool], what: str, within_s: float = 15.0) -> float:
    """Seconds until `check()` held (polled every 20 ms); fails after `within_s`. Not a timing assertion:
    the deadline only keeps a broken build from hanging."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < within_s, f"{what} did not happen within {within_s:g} s"
        time.sleep(0.02)
    return time.monotonic() - start


def test_two_servers_share_one_postgres(
    servers: tuple[Server, Server], pg_database: str, tmp_path: Path
) -> None:
    a, b = servers
    key = a.admin_key()
    clients = [Client(a.url, key), Client(b.url, key)]
    headers = {"Authorization": f"Bearer {key}"}
    try:
        clients[0].datasets.add("iris", source="builtin:iris")
        # Two trainings at once through both servers: each version number is taken once.
        runs = _spread(2, lambda n: clients[n].train(data="iris", model="logreg"))
        assert sorted(r.model_version for r in runs) == [f"{MODEL}@1", f"{MODEL}@2"]
        # (c) a deployment and an alias move made through A are served by B.
        clients[0].models.alias(f"{MODEL}@1", "production")
        clients[0].deploy({"model": f"{MODEL}@production"})
        seconds = _eventually(lambda: _served_version(b, headers) == "1", "B serving the deployment")
        print(f"B served the deployment made through A after {seconds:.2f} s")
        clients[0].models.alias(f"{MODEL}@2", "production")
        seconds = _eventually(lambda: _served_version(b, headers) == "2", "B following the alias move")
        print(f"B served the alias move made through A after {seconds:.2f} s")
        jobs = _submit_jobs(clients, tmp_path)  # they run while the moves and predictions go on
        _alias_moves_all_chain(clients, a, headers)
        user = clients[1].keys.create(role="consumer", name="metered", deployments=[MODEL])
        with httpx.Client(headers={"Authorization": f"Bearer {user.key}"}, timeout=30) as http:
            served = _spread(
                120, lambda n: http.post(f"{(a, b)[n % 2].url}/v1/predict/{MODEL}", json=PREDICT)
            )
        assert [answer.status_code for answer in served] == [200] * 120
        _ran_once_each(clients, jobs)
    finally:
        for client in clients:
            client.close()
    a.stop()  # each flushes what it metered as it stops
    b.stop()
    store = Store(pg_database, tmp_path / "unused-artifacts")
    try:
        rows = usage_report(store, date.today() - timedelta(days=1), key=user.info.id)
    finally:
        store.close()
    assert sum(r.requests for r in rows) == 120 and sum(r.samples for r in rows) == 120


def _served_version(server: Server, headers: dict[str, str]) -> str | None:
    body = {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": ROW}]}
    answer = httpx.post(f"{server.url}/v2/models/{MODEL}/infer", json=body, headers=headers, timeout=10)
    return str(answer.json()["model_version"]) if answer.status_code == 200 else None


def _submit_jobs(clients: list[Client], tmp_path: Path) -> list[JobInfo]:
    """(a) batch jobs submitted through both servers at once, for the workers of both to claim."""
    header = ",".join(f'"{c}"' for c in IRIS_COLUMNS)
    inputs = []
    for n in range(JOBS):  # a file each: concurrent uploads of one file resume one upload
        inputs.append(tmp_path / f"rows{n}.csv")
        inputs[-1].write_text(header + "\n" + "\n".join(["5.1,3.5,1.4,0.2"] * (n + 1)) + "\n")
    return _spread(
        JOBS,
        lambda n: clients[n % 2].batch(MODEL, inputs[n], tmp_path / f"out{n}.csv", background=True),
    )


def _ran_once_each(clients: list[Client], submitted: list[JobInfo]) -> None:
    """Each job succeeded on its first attempt, started once by the worker that holds it."""
    done = [clients[n % 2].jobs.wait(job.id) for n, job in enumerate(submitted)]
    assert [(job.state, job.attempts) for job in done] == [("succeeded", 1)] * JOBS
    for job in done:
        lines = [line.line for line in clients[0].jobs.logs(job.id)]
        starts = [line for line in lines if "started on" in line]
        assert starts == [f"attempt 1: started on {job.worker}"], lines


def _alias_moves_all_chain(clients: list[Client], a: Server, headers: dict[str, str]) -> None:
    """(b) many alias moves at once through both servers: every one recorded, each from where the one
    before it left the alias, and the audit chain intact with an entry for each."""
    moves = 40
    _spread(moves, lambda n: clients[n % 2].models.alias(f"{MODEL}@{n % 2 + 1}", "staging"))
    history = [m for m in clients[1].models.get(MODEL).alias_history if m.alias == "staging"]
    assert len(history) == moves and history[0].from_version is None
    for before, after in pairwise(history):
        assert after.from_version == before.to_version
    entries = [
        e
        for e in reversed(clients[0].audit.log(limit=1000))
        if e.action == "model.alias.moved" and e.target == f"{MODEL}@staging"
    ]
    assert [(e.details["from"], e.details["to"]) for e in entries] == [
        (m.from_version, m.to_version) for m in history
    ]
    verified: dict[str, Any] = httpx.get(f"{a.url}/api/v1/audit/verify", headers=headers).json()
    assert verified["ok"], verified
    assert verified["entries"] == verified["head"]["seq"] >= moves
