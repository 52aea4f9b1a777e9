"""Sign-in, sessions, CSRF and error pages: what every console page relies on."""

from __future__ import annotations

from sqlalchemy import update

from modelplane.console.web import COOKIE
from modelplane.security.audit import log
from modelplane.security.keys import revoke_key
from modelplane.security.principal import Principal
from modelplane.store.orm import ConsoleSession, utcnow
from tests.console.conftest import Console, csrf_of


def test_a_page_without_a_session_goes_to_sign_in(console: Console) -> None:
    answer = console.client().get("/ui/?sort=name")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/ui/signin?next=/ui/%3Fsort%3Dname")


def test_the_root_opens_the_console(console: Console) -> None:
    answer = console.client().get("/")
    assert answer.status_code == 307 and answer.headers["location"] == "/ui/"


def test_sign_in_sets_an_httponly_strict_cookie_that_is_not_the_key(console: Console) -> None:
    client = console.client()
    page = client.get("/ui/signin")
    token = page.text.split('name="form_token" value="')[1].split('"')[0]
    answer = client.post("/ui/signin", data={"key": console.admin_key, "form_token": token, "next": "/ui/"})
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/"
    cookie = next(v for k, v in answer.headers.multi_items() if k == "set-cookie" and v.startswith(COOKIE))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
    assert console.admin_key not in cookie and console.admin_key.split("_")[2] not in cookie
    assert client.get("/ui/").status_code == 200
    assert [r.action for r in log(console.store, limit=1)] == ["console.signin"]


def test_a_wrong_key_is_refused_on_the_sign_in_page(console: Console) -> None:
    client = console.client()
    page = client.get("/ui/signin")
    token = page.text.split('name="form_token" value="')[1].split('"')[0]
    answer = client.post("/ui/signin", data={"key": "mp_000000000000_" + "x" * 43, "form_token": token})
    assert answer.status_code == 401 and "is not valid" in answer.text
    assert COOKIE not in client.cookies


def test_sign_in_without_the_form_token_is_refused(console: Console) -> None:
    client = console.client()
    answer = client.post("/ui/signin", data={"key": console.admin_key, "form_token": "forged"})
    assert answer.status_code in (303, 403)
    assert COOKIE not in client.cookies


def test_a_form_without_its_csrf_token_is_refused(console: Console) -> None:
    client = console.signed_in()
    answer = client.post("/ui/signout", data={})
    assert answer.status_code == 403 and "CSRF token" in answer.text
    assert client.get("/ui/").status_code == 200  # still signed in: nothing happened


def test_sign_out_ends_the_session(console: Console) -> None:
    client = console.signed_in()
    csrf = csrf_of(client)
    answer = client.post("/ui/signout", data={"csrf": csrf})
    assert answer.status_code == 303 and answer.headers["location"].startswith("/ui/signin")
    assert client.get("/ui/").status_code == 303
    assert log(console.store, limit=1)[0].action == "console.signout"


def test_an_expired_session_goes_back_to_sign_in_with_a_message(console: Console) -> None:
    client = console.signed_in()
    with console.store.db.session() as db:
        db.execute(update(ConsoleSession).values(expires_at=utcnow()))
    answer = client.get("/ui/")
    assert answer.status_code == 303 and "reason=expired" in answer.headers["location"]
    page = client.get(answer.headers["location"])
    assert "Your session has expired" in page.text


def test_a_revoked_key_ends_its_sessions(console: Console) -> None:
    key = console.key("developer")
    client = console.signed_in(key)
    assert client.get("/ui/").status_code == 200
    revoke_key(console.store, Principal.local("test"), key.split("_")[1])
    console.state.gate.authenticator._next_check = 0  # type: ignore[union-attr]  # recheck now
    answer = client.get("/ui/")
    assert answer.status_code == 303 and "signin" in answer.headers["location"]


def test_an_unknown_page_is_a_404_page_with_a_way_back(console: Console) -> None:
    client = console.signed_in()
    answer = client.get("/ui/no-such-page")
    assert answer.status_code == 404
    assert 'id="way-back"' in answer.text and "/ui/no-such-page" in answer.text


def test_with_auth_off_sign_in_needs_no_key_and_says_auth_is_off(console: Console) -> None:
    from modelplane.api.gate import PlatformGate
    from modelplane.security.limits import Limiter

    console.state.gate = PlatformGate(None, Limiter(console.store), None)
    client = console.client()
    page = client.get("/ui/signin")
    assert "Auth is off" in page.text and 'name="key"' not in page.text
    token = page.text.split('name="form_token" value="')[1].split('"')[0]
    answer = client.post("/ui/signin", data={"form_token": token, "next": "/ui/keys"})
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/keys"
    assert client.get("/ui/keys").status_code == 200  # the anonymous admin, as the API treats it
