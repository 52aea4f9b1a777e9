"""GET /api/v1/deployments/{name}/package and `Client.package`: the server builds, the client unpacks."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from modelplane.client import Client
from modelplane.errors import NotFound
from modelplane.local import Local
from modelplane.packaging.manifest import MANIFEST
from tests.api.conftest import Control
from tests.net import serve


@pytest.fixture
def deployed(control: Control) -> Control:
    local = Local()  # the same home as the control plane's store
    local.datasets.add("iris", source="builtin:iris")
    local.train(data="iris", model="logreg")
    local.deploy({"model": "iris-logreg@1"}, name="iris")
    local.close()
    return control


def test_the_route_returns_the_package_as_a_tar_gz(deployed: Control, tmp_path: Path) -> None:
    answer = deployed.http.get(
        "/api/v1/deployments/iris/package",
        params={"image": "acme/iris:2"},
        headers=deployed.headers("developer"),
    )
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/gzip"
    (tmp_path / "p.tar.gz").write_bytes(answer.content)
    with tarfile.open(tmp_path / "p.tar.gz") as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile(f"./{MANIFEST}").read())  # type: ignore[union-attr]
    assert "./Dockerfile" in names and "./k8s/kserve.yaml" in names and manifest["image"] == "acme/iris:2"
    missing = deployed.http.get("/api/v1/deployments/nope/package", headers=deployed.headers("developer"))
    assert missing.status_code == 404 and "deployment 'nope' does not exist" in missing.json()["error"]
    assert deployed.http.get("/api/v1/deployments/iris/package").status_code == 401


def test_client_package_unpacks_and_verifies_into_the_directory(deployed: Control, tmp_path: Path) -> None:
    with serve(deployed.app) as address:
        client = Client(f"http://{address}", api_key=deployed.keys["developer"])
        info = client.package("iris", tmp_path / "pkg", max_replicas=5)
        assert info.versions == ["iris-logreg@1"] and info.directory == (tmp_path / "pkg").resolve()
        assert "maxReplicas: 5" in (tmp_path / "pkg" / "k8s" / "hpa.yaml").read_text()
        with pytest.raises(NotFound, match="deployment 'nope' does not exist"):
            client.package("nope", tmp_path / "other")
        assert not (tmp_path / "other").exists()
