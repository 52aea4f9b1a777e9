"""Webhook deliveries against a real HTTP receiver: signed, retried with backoff, off the request path."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

from modelplane.events.delivery import verify_signature
from modelplane.events.dispatch import Dispatcher, DispatchOptions, fan_out, ping
from modelplane.events.webhooks import add_webhook, list_deliveries
from modelplane.registry.registry import set_alias
from modelplane.security.keys import create_key
from modelplane.security.principal import Principal
from modelplane.store import Store
from tests.events.conftest import FAST, Receiver, register_version


def _wait(condition, timeout_s: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_registration_alias_and_key_arrive_signed(
    store: Store, tmp_path: Path, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    secret, hook = add_webhook(store, receiver.url, secret="s3cret-value", by="admin")
    ref = register_version(store, tmp_path)
    set_alias(store, ref, "production", by="alice")
    created = create_key(store, Principal.local("admin"), role="consumer", name="acme", deployments=("d1",))
    got = receiver.wait_for(3)
    bodies = [json.loads(r.body) for r in got]
    assert sorted(b["type"] for b in bodies) == [
        "key.created",
        "model.alias.moved",
        "model.version.registered",
    ]
    for request, body in zip(got, bodies, strict=True):
        assert request.headers["x-modelplane-event"] == body["type"]
        assert verify_signature(
            secret,
            request.body,
            request.headers["x-modelplane-timestamp"],
            request.headers["x-modelplane-signature"],
        )
        assert not verify_signature(
            "wrong-secret",
            request.body,
            request.headers["x-modelplane-timestamp"],
            request.headers["x-modelplane-signature"],
        )
        assert set(body) == {"id", "type", "at", "actor", "target", "data"}
    moved = next(b for b in bodies if b["type"] == "model.alias.moved")
    assert (
        moved["target"] == "m@production"
        and moved["data"] == {"from": None, "to": 1}
        and moved["actor"] == "alice"
    )
    key_event = next(b for b in bodies if b["type"] == "key.created")
    assert created.key not in json.dumps(key_event)  # secrets never leave in events
    _wait(lambda: all(d.state == "succeeded" for d in list_deliveries(store, hook.id)))
    assert all(d.attempts == 1 and d.status_code == 200 for d in list_deliveries(store, hook.id))


def test_a_stale_timestamp_fails_verification(
    store: Store, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    secret, _ = add_webhook(store, receiver.url, secret="s3cret-value", by="admin")
    create_key(store, Principal.local("admin"), role="consumer", name="acme", deployments=("d1",))
    [got] = receiver.wait_for(1)
    stamp, signature = got.headers["x-modelplane-timestamp"], got.headers["x-modelplane-signature"]
    assert verify_signature(secret, got.body, stamp, signature)
    assert not verify_signature(secret, got.body, stamp, signature, now=int(stamp) + 301)  # a replay
    assert not verify_signature(secret, got.body + b" ", stamp, signature)


def test_only_subscribed_types_are_sent(
    store: Store, tmp_path: Path, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    add_webhook(store, receiver.url, events=["model.alias.moved"], by="admin")
    ref = register_version(store, tmp_path)
    set_alias(store, ref, "production", by="alice")
    [got] = receiver.wait_for(1)
    assert json.loads(got.body)["type"] == "model.alias.moved"
    time.sleep(0.1)  # the dispatcher polls every 10 ms: nothing else comes
    assert len(receiver.got) == 1


def test_a_failing_receiver_gets_retries_with_backoff_then_success(
    store: Store, tmp_path: Path, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    receiver.answers = [500, 500]
    _, hook = add_webhook(store, receiver.url, by="admin")
    register_version(store, tmp_path)
    got = receiver.wait_for(3)
    assert len({r.headers["x-modelplane-delivery"] for r in got}) == 1  # the same delivery, retried
    _wait(lambda: list_deliveries(store, hook.id)[0].state == "succeeded")
    [delivery] = list_deliveries(store, hook.id)
    assert delivery.attempts == 3 and delivery.status_code == 200 and delivery.next_attempt_at is None


def test_backoff_doubles_up_to_its_cap() -> None:
    options = DispatchOptions(backoff_s=1.0, backoff_cap_s=5.0)
    assert [options.backoff(n) for n in range(1, 6)] == [1.0, 2.0, 4.0, 5.0, 5.0]


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/hook"


def test_a_dead_webhook_never_delays_the_action_and_ends_failed(
    store: Store, tmp_path: Path, receiver: Receiver
) -> None:
    slow = DispatchOptions(poll_s=0.01, timeout_s=5.0, backoff_s=0.02, backoff_cap_s=0.05, max_attempts=3)
    dispatcher = Dispatcher(store, slow).start()
    try:
        models = ["model.version.registered", "model.alias.moved"]
        _, dead = add_webhook(store, _closed_port_url(), events=models, by="admin")
        _, alive = add_webhook(store, receiver.url, events=models, by="admin")
        ref = register_version(store, tmp_path)
        started = time.perf_counter()
        set_alias(store, ref, "production", by="alice")
        took = time.perf_counter() - started
        assert took < 2.0, took  # under the 5 s webhook timeout: delivery is off the request path
        receiver.wait_for(2)  # the live webhook is not held up by the dead one
        _wait(lambda: {d.state for d in list_deliveries(store, dead.id)} == {"failed"})
        failed = list_deliveries(store, dead.id)
        assert len(failed) == 2 and all(d.attempts == 3 for d in failed)
        assert all("Connect" in (d.last_error or "") and d.status_code is None for d in failed)
        assert {d.state for d in list_deliveries(store, alive.id)} == {"succeeded"}
    finally:
        dispatcher.stop()


def test_two_dispatchers_on_one_store_deliver_each_event_once(
    store: Store, tmp_path: Path, receiver: Receiver
) -> None:
    add_webhook(store, receiver.url, by="admin")
    first, second = Dispatcher(store, FAST).start(), Dispatcher(store, FAST).start()
    try:
        for n in range(5):
            register_version(store, tmp_path, payload=bytes([n]))
        receiver.wait_for(5)
        time.sleep(0.2)
    finally:
        first.stop()
        second.stop()
    ids = [json.loads(r.body)["id"] for r in receiver.got]
    assert len(ids) == 5 and len(set(ids)) == 5


def test_fan_out_after_a_crash_loses_nothing_and_skips_older_events(store: Store, tmp_path: Path) -> None:
    register_version(store, tmp_path, payload=b"before")  # before the webhook: never its event
    _, hook = add_webhook(store, "http://127.0.0.1:9/hook", by="admin")
    register_version(store, tmp_path, payload=b"after")  # no dispatcher ran: the ledger holds it
    assert fan_out(store) > 0
    assert [d.event_type for d in list_deliveries(store, hook.id)] == ["model.version.registered"]
    assert fan_out(store) == 0  # the cursor moved: fanned out once


def test_ping_reports_the_receivers_answer(store: Store, receiver: Receiver) -> None:
    _, hook = add_webhook(store, receiver.url, by="admin")
    done = ping(store, hook.id)
    assert done.state == "succeeded" and done.status_code == 200 and done.event_type == "ping"
    assert json.loads(receiver.wait_for(1)[0].body)["type"] == "ping"
    receiver.answers = [503]
    again = ping(store, hook.id)
    assert again.state == "failed" and again.status_code == 503 and "HTTP 503" in (again.last_error or "")


def test_webhook_secret_is_sealed_under_a_master_key(store: Store, receiver: Receiver) -> None:
    import base64

    from pydantic import SecretStr
    from sqlalchemy import select

    from modelplane.store.orm import Webhook

    key = base64.b64encode(b"k" * 32).decode()
    store.settings = store.settings.model_copy(update={"master_key": SecretStr(key)})
    secret, hook = add_webhook(store, receiver.url, secret="s3cret-value", by="admin")
    assert hook.secret_at_rest.startswith("sealed")
    with store.db.session() as session:
        assert session.scalar(select(Webhook.secret)) != secret
    ping(store, hook.id)
    got = receiver.wait_for(1)[0]
    assert verify_signature(
        secret, got.body, got.headers["x-modelplane-timestamp"], got.headers["x-modelplane-signature"]
    )


def test_two_servers_on_postgres_deliver_each_event_once(
    pg_database: str, tmp_path: Path, receiver: Receiver
) -> None:
    """Each its own store (engine, pool), as two `modelplane up` on one database are."""
    stores = [Store(pg_database, tmp_path / "artifacts") for _ in range(2)]
    add_webhook(stores[0], receiver.url, events=["model.version.registered"], by="admin")
    dispatchers = [Dispatcher(s, FAST).start() for s in stores]
    try:
        for n in range(6):
            register_version(stores[n % 2], tmp_path, payload=bytes([n]))
        receiver.wait_for(6)
        time.sleep(0.2)
    finally:
        for dispatcher in dispatchers:
            dispatcher.stop()
        for store in stores:
            store.close()
    ids = [json.loads(r.body)["id"] for r in receiver.got]
    assert sorted(ids) == sorted(set(ids)) and len(ids) == 6


def test_a_delivery_whose_sender_died_is_sent_when_its_lease_runs_out(
    store: Store, tmp_path: Path, receiver: Receiver
) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    from modelplane.store.orm import WebhookDelivery, utcnow

    _, hook = add_webhook(store, receiver.url, by="admin")
    register_version(store, tmp_path)
    fan_out(store)
    with store.db.session() as session:  # claimed by a server that crashed before sending
        session.execute(
            update(WebhookDelivery).values(lease_token="dead", lease_until=utcnow() + timedelta(seconds=1.5))
        )
    dispatcher = Dispatcher(store, FAST).start()
    try:
        time.sleep(0.15)
        assert receiver.got == []  # still leased: nobody else sends it
        [got] = receiver.wait_for(1)
    finally:
        dispatcher.stop()
    assert json.loads(got.body)["type"] == "model.version.registered"
    assert [d.state for d in list_deliveries(store, hook.id)] == ["succeeded"]
