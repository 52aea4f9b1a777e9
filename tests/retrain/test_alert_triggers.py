"""Retrain on drift / accuracy drop: the policy owns alert rules on the deployments serving its model, and
fires once per alert episode, through the same firings (gate, canary) as the other triggers."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from modelplane.errors import Invalid
from modelplane.monitoring.alert_eval import evaluate_alerts
from modelplane.monitoring.alert_store import list_rules, remove_rule
from modelplane.retrain.firings import move
from modelplane.retrain.policies import delete_policy, get_policy, set_policy
from modelplane.retrain.views import NO_OP, QUEUED
from modelplane.serving.deployments import parse_spec, save_deployment
from modelplane.store import Store
from tests.retrain.conftest import MODEL

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
DRIFTED, QUIET = {"1": {"drift": 0.5}}, {"1": {"drift": 0.0}}


def _window(
    store: Store, n: int, snapshot: dict[str, dict[str, float]], deployment: str = MODEL
) -> list[str]:
    found = evaluate_alerts(store, deployment, snapshot, window_end=T0 + timedelta(minutes=5 * n))
    return [e.state for e in found]


def test_a_drift_policy_owns_the_default_rule_on_its_deployments(store: Store) -> None:
    policy = set_policy(store, MODEL, data="digits", on="drift", by="test")
    assert (policy.on, policy.when) == ("drift", ["drift > 0.2 for 2 windows"])
    [rule] = list_rules(store, MODEL)
    assert (rule.text, rule.origin) == ("drift > 0.2 for 2 windows", f"retrain:{MODEL}")
    with pytest.raises(Invalid, match="belongs to the retrain policy"):
        remove_rule(store, rule.id, by="test")
    later = save_deployment(store, parse_spec({"model": f"{MODEL}@1"}), name="later", by="test")
    assert list_rules(store, later.name) == []
    _window(store, 1, QUIET, deployment=later.name)  # its first evaluation brings the policy's rule
    assert [r.origin for r in list_rules(store, later.name)] == [f"retrain:{MODEL}"]
    delete_policy(store, MODEL, by="test")
    assert list_rules(store) == []


def test_accuracy_drop_defaults_and_a_custom_rule(store: Store) -> None:
    policy = set_policy(store, MODEL, data="digits", on="accuracy-drop", by="test")
    assert policy.when == [
        "live_accuracy < test_accuracy - 0.03",
        "estimated_accuracy < test_accuracy - 0.03",
    ]
    assert sorted(r.text for r in list_rules(store, MODEL)) == sorted(policy.when)
    custom = set_policy(store, MODEL, data="digits", on="accuracy-drop", when="live_f1<0.8", by="test")
    assert custom.when == ["live_f1 < 0.8"]
    assert [r.text for r in list_rules(store, MODEL)] == ["live_f1 < 0.8"]
    set_policy(store, MODEL, data="digits", on="new-data", by="test")
    assert list_rules(store, MODEL) == []
    with pytest.raises(Invalid, match="--when applies to the drift and accuracy-drop triggers only"):
        set_policy(store, MODEL, data="digits", on="new-data", when="drift > 0.1", by="test")
    with pytest.raises(Invalid, match="unknown metric"):
        set_policy(store, MODEL, data="digits", on="drift", when="dirft > 0.1", by="test")


def test_retrain_fires_once_per_episode_and_again_after_resolve_and_fire(store: Store) -> None:
    set_policy(store, MODEL, data="digits", on="drift", by="test")
    assert _window(store, 1, DRIFTED) == []
    assert _window(store, 2, DRIFTED) == ["firing"]
    [first] = get_policy(store, MODEL).history
    assert (first.trigger, first.state) == ("drift", QUEUED)
    assert "drift > 0.2 for 2 windows" in first.reason
    assert _window(store, 3, DRIFTED) == []  # the same episode, the retrain still queued: no second one
    with store.db.session() as session:  # the first retrain ran (it changed nothing)
        assert move(session, first.id, NO_OP, when=(QUEUED,), action="retrain.noop", by="test")
    assert _window(store, 4, DRIFTED) == []  # the same episode, the retrain done: still no second one
    assert len(get_policy(store, MODEL).history) == 1
    assert _window(store, 4.5, QUIET) == ["resolved"]
    assert _window(store, 5, DRIFTED) == []
    assert _window(store, 6, DRIFTED) == ["firing"]
    history = get_policy(store, MODEL).history
    assert [f.trigger for f in history] == ["drift", "drift"] and history[0].id != first.id


def test_an_episode_while_a_retrain_is_queued_fires_no_second_one(store: Store) -> None:
    set_policy(store, MODEL, data="digits", on="drift", when="drift > 0.2", by="test")
    assert _window(store, 1, DRIFTED) == ["firing"]
    assert _window(store, 2, QUIET) == ["resolved"]
    assert _window(store, 3, DRIFTED) == ["firing"]
    assert len(get_policy(store, MODEL).history) == 1


def test_a_disabled_policy_alerts_but_does_not_retrain(store: Store) -> None:
    set_policy(store, MODEL, data="digits", on="drift", when="drift > 0.2", enabled=False, by="test")
    assert _window(store, 1, DRIFTED) == ["firing"]
    assert get_policy(store, MODEL).history == []


def test_an_episode_that_could_not_fire_its_retrain_fires_it_at_its_next_window(store: Store) -> None:
    set_policy(store, MODEL, data="digits", on="drift", when="drift > 0.2", enabled=False, by="test")
    assert _window(store, 1, DRIFTED) == ["firing"]
    set_policy(store, MODEL, data="digits", on="drift", when="drift > 0.2", by="test")  # the rule stays
    assert _window(store, 2, DRIFTED) == []
    [firing] = get_policy(store, MODEL).history
    [rule] = list_rules(store, MODEL)
    assert rule.state == "firing" and f"(episode {rule.episode})" in firing.reason
