"""Events from a real `modelplane up`: a webhook gets signed deliveries of what happens through the API, the
SSE stream delivers the same events in order and resumes from Last-Event-ID, a consumer key sees no key
events, and stopping the server ends an open stream cleanly."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelplane.client import Client
from modelplane.events.delivery import verify_signature
from modelplane.events.views import Event
from tests.e2e.test_platform import Up
from tests.events.conftest import Receiver, receiver  # noqa: F401 (the fixture)
from tests.jobs.conftest import until

SECRET = "e2e-webhook-secret"


@pytest.fixture
def up(tmp_path: Path) -> Iterator[Up]:
    server = Up(tmp_path / "home")
    yield server
    if server.process.poll() is None:
        server.stop()


def test_webhook_and_stream_from_a_real_server(up: Up, receiver: Receiver) -> None:  # noqa: F811
    admin = Client(up.url, up.admin_key)
    watched = ["model.version.registered", "model.alias.moved", "key.created", "job.finished"]
    hook = admin.webhooks.add(receiver.url, events=watched, secret=SECRET).info
    stream = admin.events.stream(types=watched)
    heard: list[Event] = []
    listener = threading.Thread(target=lambda: heard.extend(itertools.islice(stream, 4)), daemon=True)
    listener.start()

    admin.datasets.add("iris", source="builtin:iris")
    admin.train(data="iris", model="mlp", train={"epochs": 1})
    admin.models.alias("iris-mlp@1", "production")
    consumer_key = admin.keys.create(role="consumer", name="acme", deployments=["iris-mlp"]).key
    listener.join(30)
    assert [e.type for e in heard] == [
        "model.version.registered",
        "job.finished",
        "model.alias.moved",
        "key.created",
    ]
    assert [e.id for e in heard] == sorted(e.id for e in heard)
    assert heard[2].target == "iris-mlp@production" and heard[2].data == {"from": None, "to": 1}

    got = receiver.wait_for(4, timeout_s=30)
    assert sorted(json.loads(r.body)["type"] for r in got) == sorted(watched)
    for request in got:
        stamp, signature = (
            request.headers["x-modelplane-timestamp"],
            request.headers["x-modelplane-signature"],
        )
        assert verify_signature(SECRET, request.body, stamp, signature)
    # The receiver answers before the dispatcher records the answer: wait for the record, not a sleep.
    until(
        lambda: {d.state for d in admin.webhooks.deliveries(hook.id)} == {"succeeded"},
        timeout_s=10,
        what="every delivery recorded as succeeded",
    )

    resumed = list(itertools.islice(admin.events.stream(types=watched, last_id=heard[1].id), 2))
    assert [e.id for e in resumed] == [heard[2].id, heard[3].id]

    consumer = Client(up.url, consumer_key)
    assert "key.created" not in {e.type for e in consumer.events.list(limit=100)}
    assert "key.created" in {e.type for e in admin.events.list(limit=100)}

    open_stream = admin.events.stream()
    ended = threading.Event()
    threading.Thread(target=lambda: (list(open_stream), ended.set()), daemon=True).start()
    up.stop()  # SIGTERM: the server ends the stream instead of waiting for it
    assert up.process.returncode == 0
    assert ended.wait(10)
    admin.close()
    consumer.close()
