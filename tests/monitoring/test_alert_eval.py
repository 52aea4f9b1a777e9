"""Alert rules against monitor windows: firing after N windows, resolving, no evidence, episodes, the audit
ledger and the events area, and two monitor jobs counting one window once."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from modelplane.errors import Conflict, Invalid, NotFound
from modelplane.events.stream import read_events
from modelplane.monitoring.alert_eval import evaluate_alerts
from modelplane.monitoring.alert_store import add_rule, alert_history, list_rules, remove_rule
from modelplane.security import audit
from modelplane.security.principal import Principal
from modelplane.security.roles import Role
from modelplane.serving.deployments import parse_spec, save_deployment
from modelplane.store import Store
from tests.events.conftest import register_version

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


def window(n: int) -> datetime:
    return T0 + timedelta(minutes=5 * n)


@pytest.fixture
def deployed(store: Store, tmp_path: Path) -> Store:
    register_version(store, tmp_path)
    save_deployment(store, parse_spec({"model": "m@1"}), name="digits", by="alice")
    save_deployment(store, parse_spec({"model": "m@1"}), name="other", by="alice")
    return store


def test_rules_are_added_listed_and_removed(deployed: Store) -> None:
    rule = add_rule(deployed, "digits", "drift>0.2 for 2 windows", by="alice")
    assert (rule.text, rule.for_windows, rule.origin, rule.state) == (
        "drift > 0.2 for 2 windows",
        2,
        "user",
        "ok",
    )
    assert [r.id for r in list_rules(deployed, "digits")] == [rule.id]
    assert list_rules(deployed, "other") == []
    with pytest.raises(Conflict, match="already has the alert rule"):
        add_rule(deployed, "digits", "drift > 0.2 for 2 windows", by="alice")
    with pytest.raises(NotFound, match="deployment"):
        add_rule(deployed, "nope", "drift > 0.2", by="alice")
    with pytest.raises(Invalid, match="unknown metric"):
        add_rule(deployed, "digits", "accuracy > 0.2", by="alice")
    remove_rule(deployed, rule.id, by="alice")
    assert list_rules(deployed) == []
    with pytest.raises(NotFound, match="alert rule"):
        remove_rule(deployed, rule.id, by="alice")
    actions = [r.action for r in audit.log(deployed, limit=2)]
    assert actions == ["alert.rule.removed", "alert.rule.added"]


def test_fires_after_n_windows_and_resolves_on_the_first_window_it_does_not_hold(deployed: Store) -> None:
    rule = add_rule(deployed, "digits", "drift > 0.2 for 2 windows", by="alice")
    assert evaluate_alerts(deployed, "digits", {"1": {"drift": 0.5}}, window_end=window(1)) == []
    assert list_rules(deployed, "digits")[0].breaches == 1
    [fired] = evaluate_alerts(deployed, "digits", {"1": {"drift": 0.4}}, window_end=window(2))
    assert (fired.state, fired.version, fired.value, fired.threshold, fired.rule_id) == (
        "firing",
        "1",
        0.4,
        0.2,
        rule.id,
    )
    assert (
        evaluate_alerts(deployed, "digits", {"1": {"drift": 0.9}}, window_end=window(3)) == []
    )  # still firing
    [resolved] = evaluate_alerts(deployed, "digits", {"1": {"drift": 0.1}}, window_end=window(4))
    assert resolved.state == "resolved" and resolved.episode == fired.episode
    assert list_rules(deployed, "digits")[0].state == "ok"
    # a breach broken by a quiet window starts counting again
    evaluate_alerts(deployed, "digits", {"1": {"drift": 0.5}}, window_end=window(5))
    evaluate_alerts(deployed, "digits", {"1": {"drift": 0.0}}, window_end=window(6))
    assert evaluate_alerts(deployed, "digits", {"1": {"drift": 0.5}}, window_end=window(7)) == []
    [again] = evaluate_alerts(deployed, "digits", {"1": {"drift": 0.5}}, window_end=window(8))
    assert again.state == "firing" and again.episode != fired.episode
    history = alert_history(deployed, "digits")
    assert [(e.state, e.episode) for e in history] == [
        ("firing", again.episode),
        ("resolved", fired.episode),
        ("firing", fired.episode),
    ]
    assert alert_history(deployed, "other") == []
    assert len(alert_history(deployed, limit=1)) == 1


def test_any_version_breaching_fires_and_a_missing_metric_neither_fires_nor_resolves(deployed: Store) -> None:
    add_rule(deployed, "digits", "live_accuracy < test_accuracy - 0.03", by="alice")
    snapshots = {
        "1": {"live_accuracy": 0.95, "test_accuracy": 0.96},
        "2": {"live_accuracy": 0.80, "test_accuracy": 0.96},  # the canary dropped
    }
    [fired] = evaluate_alerts(deployed, "digits", snapshots, window_end=window(1))
    assert fired.version == "2" and fired.value == pytest.approx(0.80)
    no_labels = {"1": {"test_accuracy": 0.96}, "2": {"test_accuracy": 0.96, "drift": 0.1}}
    assert evaluate_alerts(deployed, "digits", no_labels, window_end=window(2)) == []
    assert evaluate_alerts(deployed, "digits", {}, window_end=window(3)) == []
    assert list_rules(deployed, "digits")[0].state == "firing"
    [resolved] = evaluate_alerts(
        deployed, "digits", {"2": {"live_accuracy": 0.95, "test_accuracy": 0.96}}, window_end=window(4)
    )
    assert resolved.state == "resolved"


def test_no_evidence_does_not_break_a_streak(deployed: Store) -> None:
    add_rule(deployed, "digits", "p99_ms > 100 for 2 windows", by="alice")
    evaluate_alerts(deployed, "digits", {"1": {"p99_ms": 150}}, window_end=window(1))
    evaluate_alerts(deployed, "digits", {"1": {"requests": 0}}, window_end=window(2))
    [fired] = evaluate_alerts(deployed, "digits", {"1": {"p99_ms": 150}}, window_end=window(3))
    assert fired.state == "firing"


def test_transitions_are_audited_and_listed_as_events_for_who_may_see_them(deployed: Store) -> None:
    rule = add_rule(deployed, "digits", "error_rate > 0.01", by="alice")
    [fired] = evaluate_alerts(deployed, "digits", {"1": {"error_rate": 0.5}}, window_end=window(1))
    evaluate_alerts(deployed, "digits", {"1": {"error_rate": 0.0}}, window_end=window(2))
    entries = [r for r in audit.log(deployed, limit=5) if r.action.startswith("alert.")][:2]
    assert [e.action for e in entries] == ["alert.resolved", "alert.firing"]
    details = entries[1].details
    assert entries[1].target == "digits" and entries[1].actor == "monitor"
    assert details == {
        "deployment": "digits",
        "version": "1",
        "rule": rule.id,
        "text": "error_rate > 0.01",
        "value": 0.5,
        "threshold": 0.01,
        "window_end": window(1).isoformat(),
        "episode": fired.episode,
        "alert": fired.id,
    }
    assert audit.verify(deployed).ok
    developer = Principal("000000000001", "dev", Role.DEVELOPER)
    types = ("alert.firing", "alert.resolved")
    assert [e.type for e in read_events(deployed, developer, types=types)[0]] == list(types)
    mine = Principal("000000000002", "acme", Role.CONSUMER, deployments=("digits",))
    theirs = Principal("000000000003", "zed", Role.CONSUMER, deployments=("other",))
    assert len(read_events(deployed, mine, types=types)[0]) == 2
    assert read_events(deployed, theirs, types=types)[0] == []


def test_a_window_counts_once_however_many_monitor_jobs_evaluate_it(deployed: Store) -> None:
    add_rule(deployed, "digits", "drift > 0.2", by="alice")
    start = threading.Barrier(4)
    found: list[int] = []

    def job() -> None:
        start.wait()
        found.append(len(evaluate_alerts(deployed, "digits", {"1": {"drift": 0.5}}, window_end=window(1))))

    threads = [threading.Thread(target=job) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(found) == [0, 0, 0, 1]
    assert evaluate_alerts(deployed, "digits", {"1": {"drift": 0.5}}, window_end=window(1)) == []
    assert [e.state for e in alert_history(deployed)] == ["firing"]
