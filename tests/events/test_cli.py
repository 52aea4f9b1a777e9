"""`modelplane webhooks ...` and `modelplane events` in-process: tables, --json, one-line errors."""

from __future__ import annotations

import json

import pytest

from modelplane.cli.context import platform
from tests.cli_helpers import run_cli
from tests.events.conftest import Receiver


@pytest.fixture(autouse=True)
def fresh_platform() -> None:
    platform.cache_clear()


def test_add_list_test_deliveries_remove(capsys: pytest.CaptureFixture[str], receiver: Receiver) -> None:
    added = run_cli(capsys, "webhooks", "add", receiver.url, "--events", "key.created", "--json")
    assert added.code == 0, added.err
    hook, secret = added.json()["info"], added.json()["secret"]
    assert hook["events"] == ["key.created"] and len(secret) >= 32
    listed = run_cli(capsys, "webhooks", "list", "--json")
    assert [h["id"] for h in listed.json()] == [hook["id"]] and secret not in listed.out
    pinged = run_cli(capsys, "webhooks", "test", hook["id"])
    assert pinged.code == 0 and "ping delivered: HTTP 200" in pinged.out
    log = run_cli(capsys, "webhooks", "deliveries", hook["id"], "--json").json()
    assert [(d["event_type"], d["state"], d["status_code"]) for d in log] == [("ping", "succeeded", 200)]
    assert f"Deliveries of webhook {hook['id']}" in run_cli(capsys, "webhooks", "deliveries", hook["id"]).out
    assert run_cli(capsys, "webhooks", "remove", hook["id"]).code == 0
    assert run_cli(capsys, "webhooks", "list", "--json").json() == []


def test_bad_input_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    bad_url = run_cli(capsys, "webhooks", "add", "ftp://example.com/hook")
    assert bad_url.code != 0 and "webhook URL must be http:// or https://" in bad_url.err
    assert "Traceback" not in bad_url.err
    bad_type = run_cli(capsys, "webhooks", "add", "https://example.com/h", "--events", "model.made")
    assert bad_type.code != 0 and "the event types are" in bad_type.err
    missing = run_cli(capsys, "webhooks", "test", "nope")
    assert missing.code != 0 and "no webhook 'nope'" in missing.err


def test_a_failed_ping_exits_nonzero(capsys: pytest.CaptureFixture[str], receiver: Receiver) -> None:
    hook = run_cli(capsys, "webhooks", "add", receiver.url, "--json").json()["info"]
    receiver.answers = [500]
    failed = run_cli(capsys, "webhooks", "test", hook["id"])
    assert failed.code == 1 and "ping failed: HTTP 500" in failed.err


def test_events_lists_what_happened(capsys: pytest.CaptureFixture[str]) -> None:
    run_cli(capsys, "keys", "create", "--role", "developer", "--name", "dev")
    shown = run_cli(capsys, "events", "--json", "--types", "key.created")
    assert [json.loads(line)["type"] for line in shown.out.splitlines()] == ["key.created"]
    table = run_cli(capsys, "events")
    assert "key.created" in table.out
    kinds = run_cli(capsys, "events", "--types-list")
    assert "model.alias.moved" in kinds.out and "job.finished" in kinds.out
