"""Delete and reclaim against a real `modelplane up`, through the Python client: what a deployment or a
version holds cannot be deleted (409 naming it), the chain model -> run -> data unwinds in order, and gc
(admin only) takes the deleted versions' and dataset's files off the disk — measured, not trusted."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import update

from modelplane import errors
from modelplane.client import Client
from modelplane.config import Settings
from modelplane.store import Store
from modelplane.store.orm import Artifact
from tests.cli.verbs import modelplane
from tests.e2e.test_platform import Up

OLD = time.time() - 7200  # past gc's grace period


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("delete-home")


@pytest.fixture(scope="module")
def up(home: Path) -> Iterator[Up]:
    server = Up(home)
    yield server
    server.stop()


def _disk(home: Path) -> int:
    return sum(p.stat().st_size for p in (home / "artifacts").glob("??/*") if p.is_file())


def _age(home: Path) -> None:
    """Make every stored file and row older than gc's grace period, as a day-old store's are."""
    for path in (home / "artifacts").glob("??/*"):
        os.utime(path, (OLD, OLD))
    opened = Store.from_settings(Settings(home=home))
    try:
        with opened.db.session() as session:
            session.execute(update(Artifact).values(created_at=datetime.fromtimestamp(OLD, timezone.utc)))
    finally:
        opened.close()


def test_delete_refusals_then_the_chain_unwinds_and_gc_frees_the_bytes(
    up: Up, home: Path, tmp_path: Path
) -> None:
    admin = Client(up.url, up.admin_key)
    developer = Client(up.url, admin.keys.create(role="developer", name="dev").key)
    csv = tmp_path / "points.csv"
    csv.write_text("a,b,y\n" + "".join(f"{i % 7},{i % 5},{'yes' if i % 3 else 'no'}\n" for i in range(120)))
    developer.datasets.add("points", source=str(csv), target="y")
    first = developer.train(data="points", model="mlp", train={"epochs": 1})
    second = developer.train(data="points", model="mlp", train={"epochs": 1, "seed": 1})
    assert (first.model_version, second.model_version) == ("points-mlp@1", "points-mlp@2")
    developer.deploy({"model": "points-mlp"}, name="pts")  # a bare name serves the latest: @2

    with pytest.raises(errors.Conflict, match="deployment 'pts' serves it"):
        developer.models.delete("points-mlp@2")
    with pytest.raises(errors.Conflict, match="deployment 'pts'"):
        developer.models.delete("points-mlp", force=True)  # --force never overrides a deployment
    with pytest.raises(errors.Conflict, match=rf"run .*{first.id}.*runs delete RUN"):
        developer.datasets.delete("points")
    with pytest.raises(errors.Conflict, match="points-mlp@1 came from it"):
        developer.runs.delete(first.id)
    with pytest.raises(errors.NotFound):
        developer.runs.delete("0" * 32)
    with pytest.raises(errors.NotFound):
        developer.datasets.delete("nothing")

    developer.models.delete("points-mlp@1")
    with pytest.raises(errors.Forbidden):
        developer.gc(dry_run=True)  # gc is an admin's
    _age(home)
    before = _disk(home)
    dry = admin.gc(dry_run=True)
    freed_v1 = dry.categories[0].bytes
    assert freed_v1 > 0 and _disk(home) == before
    assert admin.gc().categories[0].bytes == freed_v1
    assert _disk(home) == before - freed_v1  # version 1's files left the disk; version 2's stayed
    assert admin.predict("pts", np.array([[1.0, 2.0]], dtype=np.float32))["label"].shape == (1,)

    admin.deployments.undeploy("pts")
    developer.models.delete("points-mlp")
    for run in (first, second):
        developer.runs.delete(run.id)
    assert developer.datasets.delete("points") == ["points@1"]
    _age(home)
    before = _disk(home)
    report = admin.gc()
    assert report.categories[0].bytes == before - _disk(home) > 0
    assert _disk(home) == 0  # nothing live is left, so no file is
    actions = [r.action for r in admin.audit.log(limit=30)]
    for action in ("gc", "dataset.deleted", "run.deleted", "model.deleted", "model.version.deleted"):
        assert action in actions

    # the name can be used again, numbering on after what it had
    developer.datasets.add("points", source=str(csv), target="y")
    assert developer.train(data="points", model="mlp", train={"epochs": 1}).model_version == "points-mlp@3"


def test_cli_delete_asks_first_and_gc_prints_its_table(
    up: Up, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELPLANE_URL", up.url)
    monkeypatch.setenv("MODELPLANE_API_KEY", up.admin_key)
    refused = modelplane("models", "delete", "points-mlp")
    assert refused.code == 2 and "pass --yes" in refused.err and "Traceback" not in refused.err
    missing = modelplane("models", "delete", "nope", "--yes")
    assert missing.code != 0 and "does not exist" in missing.err
    table = modelplane("gc", "--dry-run")
    assert table.code == 0 and "artifacts" in table.out and "total" in table.out


def test_cli_retention_and_gc_in_process(store: Store, tmp_path: Path) -> None:
    """Without a server: `models retain`, `models show` naming the policy, `gc --json`, one-line errors."""
    from modelplane.registry.registry import NewVersion, register

    for n in range(3):
        weights = tmp_path / "w.bin"
        weights.write_bytes(bytes([n]) * 50)
        spec = {"kind": "mlp", "input_shape": [4]}
        register(store, NewVersion("cli-m", "classification", "torch", "mlp", spec, weights, {}, {}))
    retained = modelplane("models", "retain", "cli-m", "--keep-last", "1")
    assert retained.code == 0 and "retired cli-m@1, cli-m@2" in retained.out
    assert "retention: keep the last 1" in modelplane("models", "show", "cli-m").out
    both = modelplane("models", "retain", "cli-m", "--keep-last", "2", "--off")
    assert both.code == 2 and "either --keep-last N or --off" in both.err
    report = modelplane("gc", "--json")
    assert report.code == 0 and '"dry_run": false' in report.out and '"total_bytes"' in report.out
    assert modelplane("models", "retain", "cli-m", "--off").code == 0
    gone = modelplane("data", "delete", "nothing", "--yes")
    assert gone.code != 0 and "does not exist" in gone.err and "Traceback" not in gone.err
