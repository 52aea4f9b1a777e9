"""Replica processes behind the server's batcher: the same answers as the in-process model, counted and
audited, replaced when killed, scaled with load (to zero and back), and kept across a hot swap."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import numpy as np
import psutil
import pytest

from modelplane.local import Local
from modelplane.security import audit
from modelplane.serving.metrics import ServingMetrics
from modelplane.serving.server import BackgroundDataPlane, DataPlane, ServeOptions

ROWS = np.random.default_rng(7).uniform(0, 7, (5, 4)).astype(np.float32)
BODY = {"inputs": [{"name": "input", "shape": [5, 4], "datatype": "FP32", "data": ROWS.ravel().tolist()}]}


def infer(url: str, name: str) -> dict[str, list[object]]:
    reply = httpx.post(f"{url}/v2/models/{name}/infer", json=BODY, timeout=30)
    assert reply.status_code == 200, reply.text
    return {o["name"]: o["data"] for o in reply.json()["outputs"]}


def replicas(plane: DataPlane, name: str) -> list[int]:
    """Pids of the replica processes serving `name`'s primary version now."""
    loaded = plane.manager.deployments()[name].primary
    assert loaded is not None
    return loaded.replicated.pool.pids() if loaded.replicated is not None else []


def wait_for(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def scaled(local: Local, name: str) -> list[tuple[int, int, str]]:
    entries = audit.log(local.store, action="deployment.scaled", limit=100)
    return [
        (e.details["from"], e.details["to"], e.details["cause"])
        for e in reversed(entries)
        if e.target == name
    ]


@pytest.fixture
def serving(trained: Local) -> Iterator[Callable[..., BackgroundDataPlane]]:
    started: list[BackgroundDataPlane] = []

    def start(**deployments: dict[str, object]) -> BackgroundDataPlane:
        for name, spec in deployments.items():
            trained.deploy(spec, name=name)
        plane = DataPlane(
            trained.store, ServeOptions(port=0, grpc_port=None, poll_interval_s=0.2), ServingMetrics()
        )
        running = BackgroundDataPlane(plane).start()
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()
    for info in trained.deployments.list():
        trained.deployments.undeploy(info.name)


def test_replicas_answer_as_the_server_does_each_in_a_process_of_its_own(
    trained: Local, serving: Callable[..., BackgroundDataPlane]
) -> None:
    running = serving(
        inside={"model": "iris-mlp@1"}, outside={"model": "iris-mlp@1", "scaling": {"replicas": 2}}
    )
    plane = running.plane
    assert infer(running.url, "outside") == infer(running.url, "inside")
    pids = replicas(plane, "outside")
    assert len(pids) == 2 and replicas(plane, "inside") == []
    children = {p.pid for p in psutil.Process().children()}
    assert set(pids) <= children
    metrics = httpx.get(f"{running.url}/metrics", timeout=10).text
    assert 'modelplane_replicas{deployment="outside",version="1"} 2.0' in metrics
    running.stop()
    gone = [pid for pid in pids if not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"]
    assert gone == pids, "replica processes outlived the server"


def test_a_killed_replica_is_replaced_and_no_request_fails(
    trained: Local, serving: Callable[..., BackgroundDataPlane]
) -> None:
    running = serving(pair={"model": "iris-mlp@1", "scaling": {"replicas": 2}})
    victim = replicas(running.plane, "pair")[0]
    failures: list[str] = []
    done = threading.Event()

    def load() -> None:
        with httpx.Client(timeout=30) as client:
            while not done.is_set():
                reply = client.post(f"{running.url}/v2/models/pair/infer", json=BODY)
                if reply.status_code != 200:
                    failures.append(reply.text)

    workers = [threading.Thread(target=load) for _ in range(4)]
    for worker in workers:
        worker.start()
    time.sleep(0.3)
    os.kill(victim, signal.SIGKILL)
    wait_for(
        lambda: len(replicas(running.plane, "pair")) == 2 and victim not in replicas(running.plane, "pair")
    )
    done.set()
    for worker in workers:
        worker.join()
    assert failures == []


def test_scale_to_zero_and_the_first_request_waits_for_a_replica(
    trained: Local, serving: Callable[..., BackgroundDataPlane]
) -> None:
    spec = {
        "model": "iris-mlp@1",
        "scaling": {"autoscale": {"min_replicas": 0, "max_replicas": 1, "window_s": 0.1, "cooldown_s": 0.5}},
    }
    running = serving(cold=spec)
    assert len(replicas(running.plane, "cold")) == 1  # proven to load and compute before it is served
    wait_for(lambda: replicas(running.plane, "cold") == [])
    started = time.monotonic()
    assert infer(running.url, "cold")["label"]
    assert time.monotonic() - started < 10
    assert len(replicas(running.plane, "cold")) == 1
    wait_for(lambda: (0, 1, "load") in scaled(trained, "cold"))
    assert (1, 0, "idle") in scaled(trained, "cold") and (0, 1, "load") in scaled(trained, "cold")


def test_autoscaling_follows_load_up_and_back_down(
    trained: Local, serving: Callable[..., BackgroundDataPlane]
) -> None:
    spec = {
        "model": "iris-mlp@1",
        "scaling": {
            "autoscale": {
                "min_replicas": 1,
                "max_replicas": 2,
                "target_inflight": 1,
                "window_s": 0.3,
                "cooldown_s": 1.0,
            }
        },
    }
    running = serving(elastic=spec)
    failures: list[int] = []
    done = threading.Event()

    def load() -> None:
        with httpx.Client(timeout=30) as client:
            while not done.is_set():
                status = client.post(f"{running.url}/v2/models/elastic/infer", json=BODY).status_code
                if status != 200:
                    failures.append(status)

    workers = [threading.Thread(target=load) for _ in range(6)]
    for worker in workers:
        worker.start()
    try:
        wait_for(lambda: len(replicas(running.plane, "elastic")) == 2)
    finally:
        done.set()
        for worker in workers:
            worker.join()
    wait_for(lambda: len(scaled(trained, "elastic")) == 2)  # the entry follows the change
    assert len(replicas(running.plane, "elastic")) == 1
    assert failures == []
    assert [(a, b) for a, b, _ in scaled(trained, "elastic")] == [(1, 2), (2, 1)]
    metrics = httpx.get(f"{running.url}/metrics", timeout=10).text
    assert 'direction="up"' in metrics and 'direction="down"' in metrics


def test_a_hot_swap_across_replicas_answers_every_request(
    trained: Local, serving: Callable[..., BackgroundDataPlane]
) -> None:
    running = serving(swap={"model": "iris-mlp@1", "scaling": {"replicas": 2}})
    before = set(replicas(running.plane, "swap"))
    failures: list[str] = []
    versions: set[str] = set()
    done = threading.Event()

    def load() -> None:
        with httpx.Client(timeout=30) as client:
            while not done.is_set():
                reply = client.post(f"{running.url}/v2/models/swap/infer", json=BODY)
                if reply.status_code != 200:
                    failures.append(reply.text)
                else:
                    versions.add(reply.json()["model_version"])

    workers = [threading.Thread(target=load) for _ in range(4)]
    for worker in workers:
        worker.start()
    try:
        trained.deploy({"model": "iris-mlp@2", "scaling": {"replicas": 2}}, name="swap")
        wait_for(lambda: "2" in versions)
    finally:
        done.set()
        for worker in workers:
            worker.join()
    assert failures == []
    after = set(replicas(running.plane, "swap"))
    assert len(after) == 2 and not after & before
    wait_for(lambda: not any(psutil.pid_exists(p) and psutil.Process(p).status() != "zombie" for p in before))


def test_canaries_and_ensembles_run_each_version_in_its_own_replicas(
    trained: Local, serving: Callable[..., BackgroundDataPlane]
) -> None:
    two = {"replicas": 2}
    running = serving(
        canaried={"model": "iris-mlp@1", "canary": {"model": "iris-mlp@2", "percent": 50}, "scaling": two},
        ensemble={"ensemble": {"members": ["iris-mlp@1", "iris-mlp@2"]}, "scaling": two},
        inside={"ensemble": {"members": ["iris-mlp@1", "iris-mlp@2"]}},
    )
    routes = running.plane.manager.deployments()
    assert [v.replicas for v in routes["canaried"].loaded()] == [2, 2]
    assert [v.replicas for v in routes["ensemble"].loaded()] == [2, 2]
    assert infer(running.url, "ensemble") == infer(running.url, "inside")
    versions = set()
    with httpx.Client(timeout=30) as client:
        for i in range(40):
            body = {**BODY, "id": f"request-{i}"}
            reply = client.post(f"{running.url}/v2/models/canaried/infer", json=body)
            assert reply.status_code == 200, reply.text
            versions.add(reply.json()["model_version"])
    assert versions == {"1", "2"}
