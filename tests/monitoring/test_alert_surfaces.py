"""Alerts through the API (roles, 400s that name the token), the Python Client against a real server, and the
CLI (tables, --json, one-line errors, export files)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from modelplane.client import Client
from modelplane.errors import Invalid
from modelplane.monitoring.alert_eval import evaluate_alerts
from modelplane.serving.deployments import parse_spec, save_deployment
from modelplane.store import Store
from tests.api.conftest import Control, control  # noqa: F401 (the fixture)
from tests.cli_helpers import run_cli
from tests.events.conftest import register_version
from tests.net import serve

END = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


def _deploy(store: Store, tmp_path: Path) -> None:
    register_version(store, tmp_path)
    save_deployment(store, parse_spec({"model": "m@1"}), name="d1", by="alice")


def test_api_rules_and_history_with_roles(control: Control, tmp_path: Path) -> None:  # noqa: F811
    _deploy(control.store, tmp_path)
    path = "/api/v1/deployments/d1/alerts"
    bad = control.http.post(path, json={"when": "drift >> 0.2"}, headers=control.headers("developer"))
    assert bad.status_code == 400
    assert "unexpected '>' at position 8" in bad.json()["error"] and "e.g." in bad.json()["error"]
    refused = control.http.post(path, json={"when": "drift > 0.2"}, headers=control.headers("consumer"))
    assert refused.status_code == 403
    made = control.http.post(path, json={"when": "drift>0.2"}, headers=control.headers("developer"))
    assert made.status_code == 201 and made.json()["text"] == "drift > 0.2"
    assert (
        control.http.post(
            "/api/v1/deployments/nope/alerts", json={"when": "drift > 0.2"}, headers=control.headers("admin")
        ).status_code
        == 404
    )
    listed = control.http.get(path, headers=control.headers("developer")).json()
    assert [r["id"] for r in listed["items"]] == [made.json()["id"]] and listed["total"] == 1
    evaluate_alerts(control.store, "d1", {"1": {"drift": 0.5}}, window_end=END)
    history = control.http.get("/api/v1/alerts?deployment=d1", headers=control.headers("developer")).json()
    assert [(e["state"], e["value"]) for e in history] == [("firing", 0.5)]
    assert control.http.get("/api/v1/alerts", headers=control.headers("consumer")).status_code == 403
    gone = control.http.delete(
        f"/api/v1/alert-rules/{made.json()['id']}", headers=control.headers("developer")
    )
    assert gone.status_code == 204
    assert control.http.get("/api/v1/alert-rules", headers=control.headers("admin")).json()["total"] == 0


def test_the_client_against_a_real_server(control: Control, tmp_path: Path) -> None:  # noqa: F811
    _deploy(control.store, tmp_path)
    with serve(control.app) as address:
        client = Client(f"http://{address}", api_key=control.keys["developer"])
        try:
            rule = client.alerts.add("d1", "error_rate > 0.01 for 2 windows")
            assert (rule.text, rule.for_windows, rule.created_at.tzinfo is not None) == (
                "error_rate > 0.01 for 2 windows",
                2,
                True,
            )
            assert (
                [r.id for r in client.alerts.rules("d1")]
                == [rule.id]
                == [r.id for r in client.alerts.rules()]
            )
            with pytest.raises(Invalid, match="unknown metric 'errors'"):
                client.alerts.add("d1", "errors > 1")
            for n in range(2):
                evaluate_alerts(
                    control.store, "d1", {"1": {"error_rate": 0.2}}, window_end=END.replace(hour=n)
                )
            [fired] = client.alerts.history("d1", limit=5)
            assert fired.state == "firing" and fired.window_end == END.replace(hour=1)
            client.alerts.remove(rule.id)
            assert client.alerts.rules("d1") == []
        finally:
            client.close()


def test_the_cli(store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _deploy(store, tmp_path)
    bad = run_cli(capsys, "monitor", "alert", "add", "d1", "--when", "drift > 0.2 for two windows")
    assert bad.code == 2 and bad.err.count("\n") == 1 and "unexpected 'two' at position 17" in bad.err
    added = run_cli(capsys, "monitor", "alert", "add", "d1", "--when", "drift > 0.2", "--json")
    assert added.code == 0, added.err
    rule_id = added.json()["id"]
    shown = run_cli(capsys, "monitor", "alert", "list")
    assert shown.code == 0 and "drift > 0.2" in shown.out and "0/1" in shown.out
    assert [r["id"] for r in run_cli(capsys, "monitor", "alert", "list", "d1", "--json").json()] == [rule_id]
    evaluate_alerts(store, "d1", {"1": {"drift": 0.3}}, window_end=END)
    [event] = run_cli(capsys, "monitor", "alerts", "d1", "--json").json()
    assert (event["state"], event["rule"], event["value"]) == ("firing", "drift > 0.2", 0.3)
    assert "firing" in run_cli(capsys, "monitor", "alerts").out
    out = tmp_path / "exports"
    exported = run_cli(capsys, "monitor", "export", "d1", "--grafana", "--prometheus-rules", "-o", str(out))
    assert exported.code == 0, exported.err
    rules = yaml.safe_load((out / "d1-alerts.rules.yml").read_text())
    assert rules["groups"][0]["rules"][0]["alert"] == f"ModelplaneRule{rule_id}"
    assert json.loads((out / "d1-dashboard.json").read_text())["title"] == "modelplane: d1"
    only = run_cli(capsys, "monitor", "export", "d1", "--grafana", "-o", str(tmp_path / "only"))
    assert only.code == 0 and [p.name for p in (tmp_path / "only").iterdir()] == ["d1-dashboard.json"]
    assert run_cli(capsys, "monitor", "alert", "remove", str(rule_id)).code == 0
    missing = run_cli(capsys, "monitor", "alert", "remove", str(rule_id))
    assert missing.code == 2 and f"alert rule {rule_id} not found" in missing.err
