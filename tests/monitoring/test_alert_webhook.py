"""An alert firing reaches a webhook through the platform's one delivery mechanism, signed."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from modelplane.events.delivery import verify_signature
from modelplane.events.dispatch import Dispatcher
from modelplane.events.webhooks import add_webhook
from modelplane.monitoring.alert_eval import evaluate_alerts
from modelplane.monitoring.alert_store import add_rule
from modelplane.serving.deployments import parse_spec, save_deployment
from modelplane.store import Store
from tests.events.conftest import Receiver, dispatcher, receiver, register_version  # noqa: F401


def test_alert_firing_arrives_signed_at_a_subscribed_webhook(
    store: Store,
    tmp_path: Path,
    receiver: Receiver,  # noqa: F811
    dispatcher: Dispatcher,  # noqa: F811
) -> None:
    register_version(store, tmp_path)
    save_deployment(store, parse_spec({"model": "m@1"}), name="digits", by="alice")
    secret, _ = add_webhook(store, receiver.url, events=["alert.firing"], secret="hook-secret", by="admin")
    rule = add_rule(store, "digits", "drift > 0.2", by="alice")
    end = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
    [fired] = evaluate_alerts(store, "digits", {"1": {"drift": 0.35}}, window_end=end)
    [got] = receiver.wait_for(1)
    assert verify_signature(
        secret, got.body, got.headers["x-modelplane-timestamp"], got.headers["x-modelplane-signature"]
    )
    body = json.loads(got.body)
    assert (body["type"], body["target"], got.headers["x-modelplane-event"]) == (
        "alert.firing",
        "digits",
        "alert.firing",
    )
    assert body["data"]["rule"] == rule.id and body["data"]["text"] == "drift > 0.2"
    assert body["data"]["value"] == 0.35 and body["data"]["threshold"] == 0.2
    assert body["data"]["episode"] == fired.episode and body["data"]["version"] == "1"
