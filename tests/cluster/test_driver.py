"""A job's work on a real Ray head: events reach the worker once, failures name their reason, a worker
that comes back re-attaches to the running driver, and a cancel stops the work on the cluster."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from modelplane.cluster.connect import ClusterUnreachable, check_backend
from modelplane.cluster.driver import ClusterJobFailed, _driver, driver_name, run_on_cluster
from modelplane.config import Settings
from modelplane.jobs.context import JobCancelled, JobContext
from modelplane.jobs.queue import cancel_job, enqueue, get_job, read_log
from modelplane.store import Store
from tests.jobs.conftest import claim_one


def _claimed(store: Store) -> JobContext:
    job = enqueue(store, "train", {"run_id": "r"}, by="ann")
    lease = claim_one(store)
    assert lease.job_id == job.id
    return JobContext(store, lease, params={}, checkpoint={}, done=0, threads=1)


def test_events_arrive_in_order_and_the_result_and_ids_are_recorded(store: Store, on_ray: str) -> None:
    ctx = _claimed(store)
    seen: list[dict[str, Any]] = []
    result = run_on_cluster(ctx, on_ray, "tests.cluster.targets:count", {"upto": 3}, seen.append)
    assert result == {"sum": 6, "home": str(store.runs_dir)}  # the actor opened this very store
    assert seen == [{"n": 1}, {"n": 2}, {"n": 3}]
    ray_ids = get_job(store, ctx.job_id).cluster
    assert ray_ids["driver"] == driver_name(ctx.job_id) and ray_ids["address"] == on_ray
    assert ray_ids["job"] and ray_ids["trials"] == ["t1", "t2"]
    lines = [line.line for line in read_log(store, ctx.job_id)[1]]
    assert any(line.startswith("started Ray driver modelplane/job-") for line in lines)


def test_a_failure_on_the_cluster_is_one_line_naming_its_reason(store: Store, on_ray: str) -> None:
    ctx = _claimed(store)
    with pytest.raises(ClusterJobFailed, match=r"^the payload names no data; pass --data NAME@VERSION$"):
        run_on_cluster(ctx, on_ray, "tests.cluster.targets:refuse", {}, lambda _: None)


def test_a_returning_worker_reattaches_to_the_running_driver(
    store: Store, on_ray: str, tmp_path: Path
) -> None:
    ctx = _claimed(store)
    gate = tmp_path / "gate"
    payload = {"upto": 2, "gate": str(gate)}
    from modelplane.cluster.connect import connect

    connect(on_ray)
    _driver(ctx, driver_name(ctx.job_id), "tests.cluster.targets:count", payload)  # the first worker, gone
    seen: list[dict[str, Any]] = []
    threading.Timer(0.5, gate.touch).start()
    result = run_on_cluster(ctx, on_ray, "tests.cluster.targets:count", payload, seen.append)
    assert result["sum"] == 3 and seen == [{"n": 1}, {"n": 2}]
    lines = [line.line for line in read_log(store, ctx.job_id)[1]]
    assert any(line.startswith("re-attached to Ray driver") for line in lines)


def test_a_cancelled_job_stops_its_work_on_the_cluster(store: Store, on_ray: str) -> None:
    import ray

    ctx = _claimed(store)
    threading.Timer(1.0, lambda: cancel_job(store, ctx.job_id, by="ann")).start()
    with pytest.raises(JobCancelled):
        run_on_cluster(ctx, on_ray, "tests.cluster.targets:forever", {}, lambda _: None)
    with pytest.raises(ValueError):
        ray.get_actor(driver_name(ctx.job_id), namespace="modelplane")


def test_an_unreachable_address_fails_before_anything_is_queued(free_address: str) -> None:
    with pytest.raises(
        ClusterUnreachable, match=rf"no Ray cluster answers at {free_address}.*ray start --head"
    ):
        check_backend(Settings(ray_address=free_address))
    assert check_backend(Settings()) is None  # embedded: nothing to check, Ray not even imported


@pytest.fixture
def free_address() -> str:
    from tests.net import free_port

    return f"127.0.0.1:{free_port()}"
