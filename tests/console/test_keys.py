"""Keys pages (keys:admin only): list, create with the raw key shown once, revoke after confirming."""

from __future__ import annotations

import re

from modelplane.security.audit import log
from modelplane.security.keys import list_keys
from modelplane.security.principal import Principal
from tests.console.conftest import Console, csrf_of

ADMIN = Principal.local("test")
_NEW_KEY = re.compile(r'id="new-key" readonly value="(mp_[^"]+)"')


def test_admin_sees_every_key(console: Console) -> None:
    console.key("consumer", "iris")
    page = console.signed_in().get("/ui/keys")
    assert page.status_code == 200
    for key in list_keys(console.store, ADMIN):
        assert key.id in page.text
    assert "iris" in page.text and "consumer" in page.text


def test_developer_and_consumer_get_the_apis_403(console: Console) -> None:
    for key in (console.key("developer"), console.key("consumer", "iris")):
        page = console.signed_in(key).get("/ui/keys")
        assert page.status_code == 403
        assert "may not &#39;keys:admin&#39;; that needs a key with role admin" in page.text


def test_a_created_key_is_shown_once_and_signs_in(console: Console) -> None:
    client = console.signed_in()
    csrf = csrf_of(client, "/ui/keys")
    answer = client.post(
        "/ui/keys",
        data={"csrf": csrf, "name": "app", "role": "consumer", "deployments": "iris, digits", "rate": "5/s"},
    )
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    found = _NEW_KEY.search(answer.text)
    assert found, answer.text
    raw = found.group(1)
    assert raw not in str(answer.headers) and raw not in str(client.cookies)
    created = next(k for k in list_keys(console.store, ADMIN) if k.name == "app")
    assert (
        created.deployments == ["digits", "iris"] and created.rate is not None and created.role == "consumer"
    )
    listing = client.get("/ui/keys")
    assert created.id in listing.text and raw not in listing.text
    entry = log(console.store, limit=1)[0]
    assert entry.action == "key.created" and raw not in str(entry.details)
    assert console.signed_in(raw).get("/ui/usage").status_code == 200


def test_a_failed_create_shows_the_one_line_error_and_creates_nothing(console: Console) -> None:
    client = console.signed_in()
    before = len(list_keys(console.store, ADMIN))
    answer = client.post(
        "/ui/keys",
        data={"csrf": csrf_of(client, "/ui/keys"), "name": "bad", "role": "developer", "rate": "fast"},
        headers={"referer": "http://127.0.0.1/ui/keys"},
    )
    assert answer.status_code == 303 and answer.headers["location"].startswith("/ui/keys?error=")
    page = client.get(answer.headers["location"])
    assert 'class="error"' in page.text and "fast" in page.text
    assert len(list_keys(console.store, ADMIN)) == before


def test_create_without_the_csrf_token_is_refused(console: Console) -> None:
    client = console.signed_in()
    before = len(list_keys(console.store, ADMIN))
    answer = client.post("/ui/keys", data={"name": "sneaky", "role": "admin"})
    assert answer.status_code == 403 and "CSRF" in answer.text
    assert len(list_keys(console.store, ADMIN)) == before


def test_revoke_asks_first_then_revokes(console: Console) -> None:
    key_id = console.key("developer").split("_")[1]
    client = console.signed_in()
    confirm = client.get(f"/ui/keys/{key_id}/revoke")
    assert confirm.status_code == 200 and 'id="confirm-revoke"' in confirm.text
    assert next(k for k in list_keys(console.store, ADMIN) if k.id == key_id).active  # asking changed nothing
    refused = client.post(f"/ui/keys/{key_id}/revoke", data={})
    assert refused.status_code == 403
    assert next(k for k in list_keys(console.store, ADMIN) if k.id == key_id).active
    answer = client.post(f"/ui/keys/{key_id}/revoke", data={"csrf": csrf_of(client)})
    assert answer.status_code == 303 and answer.headers["location"].startswith("/ui/keys?flash=")
    assert not next(k for k in list_keys(console.store, ADMIN) if k.id == key_id).active
    assert log(console.store, limit=1)[0].action == "key.revoked"


def test_revoking_the_last_admin_key_says_why(console: Console) -> None:
    client = console.signed_in()
    admin_id = console.admin_key.split("_")[1]
    answer = client.post(
        f"/ui/keys/{admin_id}/revoke",
        data={"csrf": csrf_of(client)},
        headers={"referer": f"http://127.0.0.1/ui/keys/{admin_id}/revoke"},
    )
    assert answer.status_code == 303 and "last+active+admin+key" in answer.headers["location"]
    assert client.get("/ui/keys").status_code == 200  # still signed in: nothing was revoked


def test_an_unknown_key_is_a_404_page(console: Console) -> None:
    assert console.signed_in().get("/ui/keys/000000000000/revoke").status_code == 404
