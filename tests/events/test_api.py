"""/api/v1/webhooks and /api/v1/events over HTTP: bad input is a 400 that says what to do, roles hold, and
the event stream (real uvicorn) resumes from Last-Event-ID, beats while idle, ends when the server stops."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from modelplane.api.routers.events import StreamSettings
from modelplane.registry.registry import set_alias
from tests.api.conftest import Control, control  # noqa: F401 (the fixture)
from tests.events.conftest import Receiver, register_version
from tests.net import serve


def test_a_non_http_url_is_refused(control: Control) -> None:  # noqa: F811
    for url in ("ftp://example.com/hook", "example.com/hook", "http://"):
        answer = control.http.post("/api/v1/webhooks", json={"url": url}, headers=control.headers("admin"))
        assert answer.status_code == 400, url
        assert (
            "webhook URL must be http:// or https://" in answer.json()["error"]
            or "no host" in answer.json()["error"]
        )
    assert control.http.get("/api/v1/webhooks", headers=control.headers("admin")).json()["total"] == 0


def test_an_unknown_event_type_lists_the_known_ones(control: Control) -> None:  # noqa: F811
    body = {"url": "https://example.com/hook", "events": ["model.alias.moved", "model.exploded"]}
    answer = control.http.post("/api/v1/webhooks", json=body, headers=control.headers("admin"))
    assert answer.status_code == 400
    assert "model.exploded" in answer.json()["error"] and "key.created" in answer.json()["error"]
    listed = control.http.get("/api/v1/events?types=nope", headers=control.headers("admin"))
    assert listed.status_code == 400 and "the event types are" in listed.json()["error"]


def test_webhooks_are_admin_only_and_the_secret_is_shown_once(control: Control, receiver: Receiver) -> None:  # noqa: F811
    body = {"url": receiver.url, "events": ["key.created"]}
    assert (
        control.http.post("/api/v1/webhooks", json=body, headers=control.headers("developer")).status_code
        == 403
    )
    made = control.http.post("/api/v1/webhooks", json=body, headers=control.headers("admin"))
    assert made.status_code == 201
    secret, hook = made.json()["secret"], made.json()["info"]
    assert len(secret) >= 32 and hook["secret_at_rest"] == "plaintext (no master key)"
    listed = control.http.get("/api/v1/webhooks", headers=control.headers("admin")).text
    assert secret not in listed and hook["id"] in listed
    tested = control.http.post(f"/api/v1/webhooks/{hook['id']}/test", headers=control.headers("admin")).json()
    assert tested["state"] == "succeeded" and tested["status_code"] == 200
    log = control.http.get(
        f"/api/v1/webhooks/{hook['id']}/deliveries", headers=control.headers("admin")
    ).json()
    assert [d["event_type"] for d in log] == ["ping"]
    assert (
        control.http.delete(f"/api/v1/webhooks/{hook['id']}", headers=control.headers("admin")).status_code
        == 204
    )
    gone = control.http.get(f"/api/v1/webhooks/{hook['id']}/deliveries", headers=control.headers("admin"))
    assert gone.status_code == 404 and "webhooks list" in gone.json()["error"]


def test_a_consumer_does_not_see_key_events(control: Control) -> None:  # noqa: F811
    def types(role: str) -> set[str]:
        return {e["type"] for e in control.http.get("/api/v1/events", headers=control.headers(role)).json()}

    assert "key.created" in types("admin")
    assert "key.created" not in types("developer") and types("consumer") == set()


def _sse(lines: Iterator[str], want: int) -> tuple[list[tuple[str, str]], list[str]]:
    """(id, event) of `want` events, and the comment lines seen before them."""
    events: list[tuple[str, str]] = []
    comments: list[str] = []
    current: dict[str, str] = {}
    for line in lines:
        if line.startswith(":"):
            comments.append(line)
        elif line and ":" in line:
            name, _, value = line.partition(":")
            current[name] = value.strip()
        elif not line and "id" in current:
            events.append((current["id"], current["event"]))
            current = {}
            if len(events) == want:
                break
    return events, comments


def test_the_stream_resumes_beats_and_ends_on_stop(control: Control, tmp_path: Path) -> None:  # noqa: F811
    stopping = threading.Event()
    control.app.state.event_stream = StreamSettings(stopping.is_set, poll_s=0.01, heartbeat_s=0.05)
    headers = {**control.headers("admin"), "Accept": "text/event-stream"}
    with serve(control.app) as where, httpx.Client(base_url=f"http://{where}", timeout=10) as http:
        with http.stream("GET", "/api/v1/events", headers=headers) as live:
            assert live.headers["content-type"].startswith("text/event-stream")
            ref = register_version(control.store, tmp_path)
            set_alias(control.store, ref, "production", by="alice")
            got, _ = _sse(live.iter_lines(), 2)
            assert [kind for _, kind in got] == ["model.version.registered", "model.alias.moved"]
            assert int(got[0][0]) < int(got[1][0])
        resumed = {**headers, "Last-Event-ID": got[0][0]}
        with http.stream("GET", "/api/v1/events", headers=resumed) as again:
            lines = again.iter_lines()
            assert _sse(lines, 1)[0] == [got[1]]
            time.sleep(0.15)
            stopping.set()
            rest = list(lines)  # the server ends the stream: this returns
        assert any(line.startswith(": keep-alive") for line in rest)
        bad = http.get("/api/v1/events", headers={**headers, "Last-Event-ID": "x"})
        assert bad.status_code == 400 and "Last-Event-ID" in bad.json()["error"]
