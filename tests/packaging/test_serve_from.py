"""`modelplane serve --from DIR` as the image runs it: a real process on free ports, with torch made
unimportable and no user store, answering V2 exactly as the original store's data plane does."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from modelplane.local import Local
from modelplane.serving.server import BackgroundDataPlane, DataPlane, ServeOptions
from tests.cli_helpers import run_cli
from tests.net import free_port

ROWS = np.random.default_rng(7).uniform(0, 7, (5, 4)).astype(np.float32)
COLUMNS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
V2 = {
    "inputs": [
        {"name": "input", "shape": list(ROWS.shape), "datatype": "FP32", "data": ROWS.ravel().tolist()}
    ]
}
# What the image's CMD runs, with torch unimportable: an ONNX-served package must not need it.
NO_TORCH = (
    "import sys; sys.modules['torch'] = None; sys.argv = ['modelplane', *sys.argv[1:]]; "
    "from modelplane.cli.main import main; main()"
)


class PackageServer:
    def __init__(self, package: Path, user_home: Path) -> None:
        self.rest_port, self.grpc_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.rest_port}"
        args = [
            "serve",
            "--from",
            str(package),
            "--port",
            str(self.rest_port),
            "--grpc-port",
            str(self.grpc_port),
        ]
        self.process = subprocess.Popen(
            [sys.executable, "-c", NO_TORCH, *args],
            env={**os.environ, "MODELPLANE_HOME": str(user_home)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"serve --from exited: {self.process.stderr.read().decode()}")  # type: ignore[union-attr]
            try:
                if httpx.get(f"{self.url}/v2/health/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("serve --from did not become ready within 60 s")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(30)


@pytest.fixture(scope="module")
def served(packages: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The URLs of `serve --from` for the `iris` and `ens` packages (one process each)."""
    user_home = tmp_path_factory.mktemp("user") / "not-made"
    servers = [PackageServer(packages[name], user_home) for name in ("iris", "ens")]
    try:
        yield servers[0].url, servers[1].url
    finally:
        for server in servers:
            server.stop()
    assert not user_home.exists()  # nothing read or written in the user's store


def _answers(url: str, name: str) -> dict[str, Any]:
    with httpx.Client(base_url=url, timeout=30) as http:
        infer = http.post(f"/v2/models/{name}/infer", json=V2)
        assert infer.status_code == 200, infer.text
        records = [dict(zip(COLUMNS, row, strict=True)) for row in ROWS.tolist()]
        v1 = http.post(f"/v1/predict/{name}", json={"instances": records})
        assert v1.status_code == 200, v1.text
        metadata = http.get(f"/v2/models/{name}").json()
    outputs = {o["name"]: o for o in infer.json()["outputs"]}
    return {
        "model_name": infer.json()["model_name"],
        "model_version": infer.json().get("model_version"),
        "labels": outputs["label"]["data"],
        "probabilities": np.asarray(outputs["probabilities"]["data"]),
        "v1": [p["label"] for p in v1.json()["predictions"]],
        "versions": metadata.get("versions"),
    }


def test_serve_from_answers_v2_like_the_original_server(home: Path, served: tuple[str, str]) -> None:
    local = Local(home)
    try:
        plane = DataPlane(local.store, ServeOptions(port=0, grpc_port=None, poll_interval_s=0))
        with BackgroundDataPlane(plane) as original:
            want = {name: _answers(original.url, name) for name in ("iris", "ens")}
    finally:
        local.close()
    for name, url in zip(("iris", "ens"), served, strict=True):
        got = _answers(url, name)
        np.testing.assert_allclose(got.pop("probabilities"), want[name].pop("probabilities"), atol=1e-6)
        assert got == want[name]
    assert want["iris"]["model_version"] == "1"  # the original number, not renumbered


def test_a_tampered_package_is_refused_in_one_line(
    packages: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = shutil.copytree(packages["iris"], tmp_path / "copy")
    graph = copy / "versions" / "iris-mlp" / "1" / "onnx"
    data = bytearray(graph.read_bytes())
    data[len(data) // 2] ^= 0xFF
    graph.write_bytes(bytes(data))
    result = run_cli(capsys, "serve", "--from", str(copy), "--port", "0", "--grpc-port", "-1")
    assert result.code == 3
    assert "versions/iris-mlp/1/onnx" in result.err and "changed after packaging" in result.err
    assert "Traceback" not in result.err and len(result.err.strip().splitlines()) <= 2


def test_serve_from_a_directory_that_is_no_package(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run_cli(capsys, "serve", "--from", str(tmp_path), "--port", "0", "--grpc-port", "-1")
    assert (
        result.code != 0
        and "is not a modelplane package" in result.err
        and "modelplane package" in result.err
    )


def test_home_without_from_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    result = run_cli(capsys, "serve", "--home", str(tmp_path), "--port", "0")
    assert result.code == 2 and "--from" in result.err
