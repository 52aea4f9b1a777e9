"""`modelplane package` as a user runs it: what it prints, and the errors that name their fix."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from modelplane.config import get_settings
from modelplane.local import Local
from modelplane.packaging.manifest import MANIFEST
from modelplane.store.orm import ModelVersion, utcnow
from tests.cli_helpers import run_cli


@pytest.fixture
def deployed(isolated_home: Path) -> Iterator[Local]:
    """A fast iris classifier deployed as `iris` in the CLI's own home."""
    local = Local()
    local.datasets.add("iris", source="builtin:iris")
    local.train(data="iris", model="logreg")  # iris-logreg@1
    local.deploy({"model": "iris-logreg@1"}, name="iris")
    yield local
    local.close()


def test_package_json_names_what_it_wrote(
    deployed: Local, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "pkg"
    result = run_cli(capsys, "package", "iris", "-o", str(out), "--image", "ghcr.io/acme/iris:v1", "--json")
    assert result.code == 0, result.err
    info = result.json()
    assert info["directory"] == str(out.resolve()) and info["image"] == "ghcr.io/acme/iris:v1"
    assert info["versions"] == ["iris-logreg@1"] and info["needs_torch"] is False and info["files"] >= 2
    assert json.loads((out / MANIFEST).read_text())["image"] == "ghcr.io/acme/iris:v1"
    assert "ghcr.io/acme/iris:v1" in (out / "k8s" / "deployment.yaml").read_text()
    again = run_cli(capsys, "package", "iris", "-o", str(out))  # never over what is there
    assert again.code == 2 and "already exists and is not empty" in again.err


def test_package_of_a_deployment_whose_version_was_deleted_is_not_found(
    deployed: Local, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `models delete` refuses a deployed version; a store changed behind the platform's back still happens.
    with deployed.store.db.session() as session:
        session.scalars(select(ModelVersion)).one().deleted_at = utcnow()
    result = run_cli(capsys, "package", "iris", "-o", str(tmp_path / "pkg"))
    assert result.code == 2
    assert "deployment 'iris' serves iris-logreg@1, which no longer exists" in result.err
    assert "Traceback" not in result.err and not (tmp_path / "pkg").exists()
    assert not list(tmp_path.glob(".pkg.partial-*"))  # no partial directory left behind


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope", "-o", "X"], "deployment 'nope' does not exist"),
        (["iris", "-o", "X", "--image", "Not An Image"], "is not an image reference"),
        (["iris", "-o", "X", "--min-replicas", "4", "--max-replicas", "2"], "are not a range"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    deployed: Local, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    args = [str(tmp_path / "pkg") if a == "X" else a for a in args]
    result = run_cli(capsys, "package", *args)
    assert result.code == 2 and message in result.err and "Traceback" not in result.err
    assert not (tmp_path / "pkg").exists()


def test_files_encrypted_at_rest_are_packaged_in_plaintext(
    isolated_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELPLANE_MASTER_KEY", base64.b64encode(os.urandom(32)).decode())
    get_settings.cache_clear()
    local = Local()
    try:
        local.datasets.add("iris", source="builtin:iris")
        local.train(data="iris", model="logreg")
        local.deploy({"model": "iris-logreg@1"}, name="iris")
        info = local.models.version("iris-logreg@1")
        sealed = local.store.artifacts.root
        blobs = [p.read_bytes() for p in sealed.rglob("*") if p.is_file()]
        local.package("iris", tmp_path / "pkg")
    finally:
        local.close()
    graph = (tmp_path / "pkg" / "versions" / "iris-logreg" / "1" / "onnx").read_bytes()
    assert hashlib.sha256(graph).hexdigest() == info.artifacts["onnx"].sha256  # the plaintext
    assert graph not in blobs  # while the store holds only its ciphertext
