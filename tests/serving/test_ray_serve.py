"""`--serve-backend ray`: every deployment runs as a Ray Serve application on the test session's head,
behind the same V2 front end; the same answers as in the server, the autoscaling options mapped onto
Serve's, the application gone when the server stops, and no head answering refused in one line."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from modelplane.cluster.connect import ClusterUnreachable
from modelplane.local import Local
from modelplane.serving.metrics import ServingMetrics
from modelplane.serving.server import BackgroundDataPlane, DataPlane, ServeOptions
from tests.cli_helpers import run_cli
from tests.net import free_port

ROWS = np.random.default_rng(3).uniform(0, 7, (6, 4)).astype(np.float32)
BODY = {"inputs": [{"name": "input", "shape": [6, 4], "datatype": "FP32", "data": ROWS.ravel().tolist()}]}


def infer(url: str, name: str) -> dict[str, list[Any]]:
    reply = httpx.post(f"{url}/v2/models/{name}/infer", json=BODY, timeout=60)
    assert reply.status_code == 200, reply.text
    return {o["name"]: o["data"] for o in reply.json()["outputs"]}


def app_of(plane: DataPlane, name: str) -> str:
    loaded = plane.manager.deployments()[name].primary
    assert loaded is not None and loaded.replicated is not None
    return loaded.replicated.app  # type: ignore[attr-defined]


def serve_details() -> Any:
    """What Serve's controller holds for every application: status and each deployment's config."""
    from ray.serve.context import _get_global_client
    from ray.serve.schema import ServeInstanceDetails

    client = _get_global_client()
    assert client is not None
    return ServeInstanceDetails(**client.get_serve_details())


@pytest.fixture
def serving(trained: Local, ray_address: str) -> Iterator[Callable[..., BackgroundDataPlane]]:
    started: list[BackgroundDataPlane] = []

    def start(backend: str = "ray", **deployments: dict[str, object]) -> BackgroundDataPlane:
        for name, spec in deployments.items():
            trained.deploy(spec, name=name)
        options = ServeOptions(
            port=0, grpc_port=None, poll_interval_s=0.2, serve_backend=backend, ray_address=ray_address
        )
        running = BackgroundDataPlane(DataPlane(trained.store, options, ServingMetrics())).start(120)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop(60)
    for info in trained.deployments.list():
        trained.deployments.undeploy(info.name)


def test_served_on_ray_serve_answers_as_the_server_does_and_is_gone_when_it_stops(
    trained: Local, serving: Callable[..., BackgroundDataPlane]
) -> None:
    from ray import serve

    running = serving(iris={"model": "iris-mlp@1"})
    app = app_of(running.plane, "iris")
    assert app.startswith("modelplane-iris-v1-")
    status = serve.status()
    assert status.applications[app].status == "RUNNING"
    assert status.applications[app].deployments["model"].replica_states == {"RUNNING": 1}
    assert not status.proxies  # no Ray HTTP proxy: modelplane's front end is the server
    metrics = httpx.get(f"{running.url}/metrics", timeout=10).text
    assert 'modelplane_replicas{deployment="iris",version="1"} 1.0' in metrics
    on_ray = infer(running.url, "iris")
    running.stop(60)
    assert app not in serve.status().applications

    local = serving("local")
    expected = infer(local.url, "iris")
    assert on_ray["label"] == expected["label"]
    np.testing.assert_allclose(on_ray["probabilities"], expected["probabilities"], rtol=1e-5)


def test_autoscaling_options_become_serve_autoscaling_and_a_swap_replaces_the_app(
    trained: Local, serving: Callable[..., BackgroundDataPlane]
) -> None:
    from ray import serve

    running = serving(iris={"model": "iris-mlp@1"})
    first = app_of(running.plane, "iris")
    auto = {"min_replicas": 0, "max_replicas": 2, "target_inflight": 3, "window_s": 0.5, "cooldown_s": 7}
    trained.deploy({"model": "iris-mlp@1", "scaling": {"autoscale": auto}}, name="iris")
    running.run_coroutine(running.plane.manager.sync(), 120)
    second = app_of(running.plane, "iris")
    assert second != first and first not in serve.status().applications
    deployment = serve_details().applications[second].deployments["model"]
    config = deployment.deployment_config
    scaling = config.autoscaling_config
    assert (scaling["min_replicas"], scaling["max_replicas"], scaling["initial_replicas"]) == (0, 2, 1)
    assert scaling["target_ongoing_requests"] == 3
    assert (scaling["upscale_delay_s"], scaling["downscale_delay_s"]) == (0.5, 7)
    assert config.max_ongoing_requests == 4  # above the target, so Ray sees more than it and scales up
    assert deployment.deployment_config.ray_actor_options.num_cpus == 1
    assert running.plane.manager.deployments()["iris"].primary.batcher.slots == 8  # type: ignore[union-attr]
    assert infer(running.url, "iris")["label"]


def test_a_head_that_does_not_answer_is_refused_before_anything_starts(
    trained: Local, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    nowhere = f"127.0.0.1:{free_port()}"
    options = ServeOptions(port=0, grpc_port=None, serve_backend="ray", ray_address=nowhere)
    with pytest.raises(ClusterUnreachable, match=f"no Ray cluster answers at {nowhere}"):
        DataPlane(trained.store, options)
    monkeypatch.setenv("MODELPLANE_RAY_ADDRESS", nowhere)
    for command in (["serve"], ["up", "--no-auth"]):
        result = run_cli(capsys, *command, "--port", "0", "--grpc-port", "-1", "--serve-backend", "ray")
        assert result.code == 2, result.err
        lines = result.err.strip().splitlines()
        assert len(lines) == 1 and f"no Ray cluster answers at {nowhere}" in lines[0]
    result = run_cli(capsys, "serve", "--serve-backend", "spark")
    assert result.code == 2 and "--serve-backend must be local or ray, got 'spark'" in result.err


def test_a_version_that_cannot_load_on_serve_is_refused_and_the_old_one_kept(
    trained: Local, serving: Callable[..., BackgroundDataPlane]
) -> None:
    from ray import serve

    running = serving(iris={"model": "iris-mlp@1"})
    kept = app_of(running.plane, "iris")
    logreg = trained.models.version("iris-logreg@1")
    weights = trained.store.artifacts.path_for(next(iter(logreg.artifacts.values())).sha256)
    hidden = weights.with_name(weights.name + ".hidden")
    weights.rename(hidden)  # the replica finds no weights where the store says they are
    try:
        before = set(serve.status().applications)
        trained.deploy({"model": "iris-logreg@1"}, name="iris")
        running.run_coroutine(running.plane.manager.sync(), 120)
    finally:
        hidden.rename(weights)
    problem = running.plane.manager.problems["iris"]
    assert problem.startswith("iris-logreg@1 cannot be served:"), problem
    assert app_of(running.plane, "iris") == kept
    assert set(serve.status().applications) == before  # the failed version's application was deleted
    assert infer(running.url, "iris")["label"]
