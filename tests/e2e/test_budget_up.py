"""`modelplane up --memory-budget` as a user runs it: a deployment larger than the budget is refused at
deploy with both sizes named (nothing saved), one that fits is served, `deployments list` shows what the
server holds and its measured size, and a bad budget is refused before anything starts."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from modelplane import errors
from modelplane.client import Client
from modelplane.local import Local
from tests.cli.verbs import modelplane
from tests.e2e.test_platform import ROWS, Up


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    """A small iris classifier (a few hundred KB resident) and a wide one (two 2048-wide layers, ~33 MB
    resident), under a 20 MB budget."""
    home = tmp_path_factory.mktemp("budget-up")
    local = Local(home)
    local.datasets.add("iris", source="builtin:iris")
    local.train(data="iris", model="mlp", name="small", train={"epochs": 1})
    local.train(data="iris", model="mlp", name="wide", spec={"hidden": [2048, 2048]}, train={"epochs": 1})
    local.close()
    server = Up(home, "--memory-budget", "20MB")
    yield server
    server.stop()


def test_too_large_is_refused_at_deploy_and_list_shows_what_is_loaded(
    up: Up, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = Client(up.url, up.admin_key)
    try:
        with pytest.raises(errors.Invalid) as refused:
            client.deploy({"model": "wide@1"})
        message = str(refused.value)
        assert re.search(
            r"'wide' needs \d+\.\d MiB resident \(measured\), more than the memory budget of 19\.1 MiB; "
            r"raise --memory-budget",
            message,
        ), message
        assert [d.name for d in client.deployments.list()] == []  # nothing saved
        client.deploy({"model": "small@1"})
    finally:
        client.close()
    auth = {"Authorization": f"Bearer {up.admin_key}"}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the server loads it at its next look at the store (--poll 0.1)
        reply = httpx.post(f"{up.url}/v1/predict/small", json={"instances": ROWS.tolist()}, headers=auth)
        if reply.status_code == 200:
            break
        time.sleep(0.05)
    assert reply.status_code == 200, reply.text
    monkeypatch.setenv("MODELPLANE_URL", up.url)
    monkeypatch.setenv("MODELPLANE_API_KEY", up.admin_key)
    listed = modelplane("deployments", "list", "--json")
    assert listed.code == 0, listed.err
    [small] = listed.json()
    assert small["name"] == "small" and small["served"]["state"] == "loaded"
    assert 0 < small["served"]["resident_bytes"] < 20 * 10**6
    shown = modelplane("deployments", "list")
    assert shown.code == 0 and "resident" in shown.out and re.search(r"loaded .*\d+\.\d MiB", shown.out)


def test_a_bad_budget_is_refused_before_starting(tmp_path: Path) -> None:
    result = modelplane("serve", "--memory-budget", "lots")
    assert result.code == 2
    assert "--memory-budget 'lots' is not a size" in result.err
