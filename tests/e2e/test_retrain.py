"""Continuous training against a real `modelplane up`: a policy set with the CLI, rows appended with
`data add --append`, and the server's watcher and workers doing the rest — retrain job, gate, staging,
canary on the deployment — with the server restarted mid-canary, after which it still promotes. Then a
manual retrain with no new rows, which is a recorded no-op."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits

from modelplane.cli.context import platform
from modelplane.client import Client
from modelplane.retrain.settings import DEFAULT_REPLAY
from tests.cli_helpers import run_cli
from tests.e2e.test_platform import Up
from tests.jobs.conftest import until
from tests.retrain.conftest import write_csv

MODEL = "digits-mlp"


class UpAgain(Up):
    """`modelplane up` started again on a home that has its admin key already (none is printed)."""

    def __init__(self, home: Path, admin_key: str) -> None:
        self._known_key = admin_key
        super().__init__(home)

    def _wait_for_key(self) -> str:
        deadline = time.monotonic() + 60
        while "gRPC" not in self.log.read_text():
            assert self.process.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, self.log.read_text()
            time.sleep(0.1)
        return self._known_key


def _firing_state(home: Path) -> str:
    """Read straight from the store (the server may be down)."""
    with sqlite3.connect(home / "modelplane.db") as db:
        return str(db.execute("SELECT state FROM retrain_firings ORDER BY id DESC LIMIT 1").fetchone()[0])


def test_new_data_retrains_through_a_real_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    x, y = load_digits(return_X_y=True)
    base = write_csv(tmp_path / "base.csv", x[:1000], y[:1000])
    more = write_csv(tmp_path / "more_rows.csv", x[1000:1200], y[1000:1200])
    home = tmp_path / "up-home"
    server = Up(home)
    client = Client(server.url, server.admin_key)
    try:
        client.datasets.add("digits", source=str(base), target="label")
        first = client.train(data="digits", model="mlp", spec={"hidden": [32]}, train={"epochs": 8})
        client.models.alias(str(first.model_version), "production")
        client.deploy({"model": f"{MODEL}@production"})

        monkeypatch.setenv("MODELPLANE_URL", server.url)
        monkeypatch.setenv("MODELPLANE_API_KEY", server.admin_key)
        platform.cache_clear()
        policy = ["retrain-policy", "set", MODEL, "--data", "digits", "--on", "new-data", "--epochs", "2"]
        refused = run_cli(capsys, *policy, "--gate", "mse<=production*1.05")
        assert refused.code == 2 and "unknown metric 'mse' for a classification model" in refused.err
        set_ = run_cli(capsys, *policy, "--gate", "accuracy>=production-0.05", "--canary", "10:4s")
        assert set_.code == 0, set_.err
        assert "warm start" in set_.out
        added = run_cli(capsys, "data", "add", "digits", "--from", str(more), "--target", "label", "--append")
        assert added.code == 0 and "digits@2" in added.out, added.err

        def state() -> str | None:
            history = client.retrain_policies.get(MODEL).history
            return history[0].state if history else None

        until(lambda: state() == "canary", timeout_s=120, what="the retrain job to start a canary")
        canary = client.deployments.get(MODEL).spec.canary
        assert canary is not None and (canary.model, canary.percent) == (f"{MODEL}@2", 10)
        assert client.models.version(f"{MODEL}@staging").version == 2
        assert client.models.version(f"{MODEL}@production").version == 1
        server.stop()
        assert _firing_state(home) == "canary", "the canary ended before the server stopped"
        server = UpAgain(home, server.admin_key)  # new ports: talk to the new server
        client.close()
        client = Client(server.url, server.admin_key)

        until(lambda: state() == "promoted", timeout_s=30, what="the restarted server to promote")
        production = client.models.version(f"{MODEL}@production")
        assert (production.version, production.parent, production.dataset) == (2, f"{MODEL}@1", "digits@2")
        assert production.params["retrain"]["trigger"] == "new-data"
        assert client.deployments.get(MODEL).spec.canary is None
        assert client.predict(MODEL, x[1200:1203])["label"].shape == (3,)
        actions = {entry.action for entry in client.audit.log(limit=200)}
        assert {
            "retrain.fired",
            "retrain.gate.passed",
            "retrain.canary.started",
            "retrain.promoted",
        } <= actions

        monkeypatch.setenv("MODELPLANE_URL", server.url)
        platform.cache_clear()
        noop = run_cli(capsys, "retrain", MODEL, "--wait")
        assert noop.code == 0, noop.err
        assert "no-op" in noop.out and "no new rows" in noop.out
        shown = run_cli(capsys, "retrain-policy", "show", MODEL, "--json").json()
        assert [f["state"] for f in shown["history"]] == ["no-op", "promoted"]
        assert np.isclose(shown["replay"], DEFAULT_REPLAY)  # the default came through the server
    finally:
        client.close()
        server.stop()
