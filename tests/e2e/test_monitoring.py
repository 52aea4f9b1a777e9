"""Monitoring against a real `modelplane up`: traffic from the training distribution, then a shifted one,
over /v1/predict; feedback for both; a monitor run after each. The first window shows no drift and live
accuracy near the test accuracy, with the estimate beside it; the second shows drift and an estimate that
falls with the live accuracy, fires the alert rule, whose signed webhook a local HTTP server receives, and
fires the drift retrain policy — which learns from the production rows `data add --from-feedback` made a
dataset version of."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
from sklearn.datasets import load_digits

from modelplane.client import Client
from modelplane.events.delivery import verify_signature
from tests.e2e.test_platform import Up
from tests.events.conftest import Receiver, receiver  # noqa: F401 - the fixture
from tests.jobs.conftest import until
from tests.retrain.conftest import write_csv

DEPLOYMENT = "digits-mlp"


def _predict(url: str, key: str, x: np.ndarray, rows_per_request: int = 50) -> list[tuple[str, int]]:
    """(request id, row) of every row sent, from the ids the server answered with."""
    sent = []
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
        for start in range(0, len(x), rows_per_request):
            rows = x[start : start + rows_per_request]
            answer = http.post(f"/v1/predict/{DEPLOYMENT}", json={"instances": rows.tolist()})
            assert answer.status_code == 200, answer.text
            request_id = answer.json()["id"]
            sent += [(request_id, row) for row in range(len(rows))]
    return sent


def _feedback(client: Client, sent: list[tuple[str, int]], y: np.ndarray) -> None:
    items = [
        {"request_id": rid, "row": row, "label": str(label)}
        for (rid, row), label in zip(sent, y, strict=True)
    ]
    result = client.feedback.send(DEPLOYMENT, items)
    assert result.accepted == len(items) and result.unknown == 0


def test_drift_feedback_alert_webhook_and_retrain_through_a_real_server(
    tmp_path: Path,
    receiver: Receiver,  # noqa: F811
) -> None:
    x, y = load_digits(return_X_y=True)
    x = x.astype(np.float32)
    server = Up(tmp_path / "home")
    client = Client(server.url, server.admin_key)
    try:
        client.datasets.add(
            "digits", source=str(write_csv(tmp_path / "digits.csv", x[:1000], y[:1000])), target="label"
        )
        run = client.train(data="digits", model="mlp", spec={"hidden": [32]}, train={"epochs": 8})
        client.models.alias(str(run.model_version), "production")
        client.deploy({"model": "digits-mlp@production"}, name=DEPLOYMENT)
        hook = client.webhooks.add(receiver.url, events=["alert.firing"])
        rule = client.alerts.add(DEPLOYMENT, "drift > 0.5")
        client.retrain_policies.set("digits-mlp", data="digits", on="drift", when="drift > 0.5", epochs=2)

        # Production traffic like the training data, labelled later.
        normal = _predict(server.url, server.admin_key, x[1000:1300])
        _feedback(client, normal, y[1000:1300])
        (first,) = client.monitor.run(DEPLOYMENT)
        test_accuracy = first.metrics["test_accuracy"]
        assert first.metrics["requests"] == 6 and first.metrics["rows"] == 300
        assert first.metrics["drift"] < 0.5
        assert first.metrics["labelled"] == 300
        assert abs(first.metrics["live_accuracy"] - test_accuracy) < 0.08
        assert abs(first.metrics["estimated_accuracy"] - first.metrics["live_accuracy"]) < 0.08
        assert client.alerts.history(DEPLOYMENT) == []

        # The world moves: every pixel brighter. The model keeps answering; the monitor notices.
        shifted = np.clip(x[1300:1797] + 6, 0, 22)
        moved = _predict(server.url, server.admin_key, shifted)
        _feedback(client, moved, y[1300:1797])
        logged = client.predictions.read(DEPLOYMENT, since="1h", limit=10_000)
        assert logged.num_rows == 797
        added = client.datasets.add("digits", source=f"feedback:{DEPLOYMENT}", since="1h")
        assert added.version.num_rows > 1000  # the old rows and the labelled production rows
        (second,) = client.monitor.run(DEPLOYMENT)
        assert second.metrics["drift"] > 0.5
        assert second.metrics["live_accuracy"] < first.metrics["live_accuracy"]
        # The estimate sees the drop too, before any label: from confidence alone it rose here (0.89 to
        # 0.96, the MLP surer of its wrong answers); the rows' distance to the training rows brings it down.
        live_fell = first.metrics["live_accuracy"] - second.metrics["live_accuracy"]
        estimate_fell = first.metrics["estimated_accuracy"] - second.metrics["estimated_accuracy"]
        assert estimate_fell > 0.5 * live_fell

        fired = [a for a in client.alerts.history(DEPLOYMENT) if a.state == "firing"]
        assert {a.rule_id for a in fired} >= {rule.id}
        delivered = receiver.wait_for(1, timeout_s=30)
        body = json.loads(delivered[0].body)
        assert body["type"] == "alert.firing" and body["data"]["deployment"] == DEPLOYMENT
        headers = delivered[0].headers
        assert verify_signature(
            hook.secret,
            delivered[0].body,
            headers["x-modelplane-timestamp"],
            headers["x-modelplane-signature"],
        )

        def drift_firing() -> bool:
            history = client.retrain_policies.get("digits-mlp").history
            return any(f.trigger == "drift" for f in history)

        until(drift_firing, timeout_s=60, what="the drift policy to fire a retrain")
        metrics = httpx.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {server.admin_key}"})
        assert f'modelplane_drift_share{{deployment="{DEPLOYMENT}"' in metrics.text
        assert "modelplane_feature_drift{" in metrics.text
    finally:
        server.stop()
