from __future__ import annotations

import pytest
from sqlalchemy import event, select

from modelplane.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized
from modelplane.security.keys import Authenticator, create_key, ensure_admin_key, list_keys, revoke_key
from modelplane.security.limits import Quota, RateLimit
from modelplane.security.principal import Principal
from modelplane.security.roles import Role
from modelplane.store import Store
from modelplane.store.orm import ApiKey


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_create_authenticate_and_list_never_show_the_secret(store: Store, admin: Principal) -> None:
    created = create_key(
        store,
        admin,
        role="consumer",
        name="acme",
        deployments=["digits-cnn"],
        rate="50/s",
        quota="100000/month",
    )
    prefix, key_id, secret = created.key.split("_", 2)
    assert prefix == "mp" and key_id == created.info.id and len(secret) == 43
    principal = Authenticator(store).authenticate(created.key)
    assert principal == Principal(
        key_id, "acme", Role.CONSUMER, ("digits-cnn",), RateLimit(50, 1, 50), Quota(100_000, "requests")
    )
    with store.db.session() as session:
        row = session.get_one(ApiKey, key_id)
        assert secret not in row.secret_hash and len(row.secret_hash) == 64
    listed = list_keys(store, admin)
    assert [k.id for k in listed] == [key_id] and listed[0].created_by == "alice"
    assert secret not in str(listed[0].to_dict())


@pytest.mark.parametrize(
    "raw",
    ["", "Bearer x", "mp_123_abc", "sk_0123456789ab_" + "a" * 43, "mp_0123456789AB_" + "a" * 43],
)
def test_malformed_keys_are_refused_without_echoing_them(store: Store, raw: str) -> None:
    with pytest.raises(Unauthorized, match="malformed API key") as caught:
        Authenticator(store).authenticate(raw)
    assert not raw or raw not in str(caught.value)


def test_unknown_wrong_secret_and_revoked_keys_are_refused(store: Store, admin: Principal) -> None:
    auth = Authenticator(store)
    with pytest.raises(Unauthorized) as unknown:
        auth.authenticate("mp_0123456789ab_" + "a" * 43)
    created = create_key(store, admin, role="developer", name="ci")
    forged = created.key[:-1] + ("A" if created.key[-1] != "A" else "B")
    with pytest.raises(Unauthorized) as caught:
        auth.authenticate(forged)
    assert forged.split("_", 2)[2] not in str(caught.value)
    # One answer for both: the message must not tell a caller whether a key id exists.
    assert str(unknown.value).replace("0123456789ab", created.info.id) == str(caught.value)
    assert "not valid (unknown, or its secret does not match)" in str(caught.value)
    revoke_key(store, admin, created.info.id)
    with pytest.raises(Unauthorized, match=r"\('ci'\) was revoked"):
        Authenticator(store).authenticate(created.key)


def test_revoke_reaches_a_running_authenticator_within_its_recheck(store: Store, admin: Principal) -> None:
    clock = FakeClock()
    auth = Authenticator(store, recheck_s=0.5, clock=clock)
    created = create_key(store, admin, role="developer", name="ci")
    assert auth.authenticate(created.key).name == "ci"
    revoke_key(store, admin, created.info.id)  # e.g. from the CLI, another process
    clock.now += 0.5
    with pytest.raises(Unauthorized, match="revoked"):
        auth.authenticate(created.key)


def test_a_cached_key_costs_no_query_until_the_recheck(store: Store, admin: Principal) -> None:
    clock = FakeClock()
    auth = Authenticator(store, recheck_s=0.5, clock=clock)
    created = create_key(store, admin, role="developer", name="ci")
    auth.authenticate(created.key)
    queries: list[str] = []
    event.listen(store.db.engine, "before_cursor_execute", lambda *a: queries.append(a[2]))
    for _ in range(100):
        auth.authenticate(created.key)
    assert queries == []
    clock.now += 0.6
    auth.authenticate(created.key)
    assert len(queries) == 1  # the generation check only


def test_a_verified_key_does_not_vouch_for_another_secret_with_its_id(store: Store, admin: Principal) -> None:
    auth = Authenticator(store)
    created = create_key(store, admin, role="developer", name="ci")
    assert auth.authenticate(created.key).name == "ci"  # verified once: repeats skip the hash
    forged = created.key[:-1] + ("A" if created.key[-1] != "A" else "B")
    with pytest.raises(Unauthorized, match="is not valid"):
        auth.authenticate(forged)
    assert auth.authenticate(created.key).name == "ci"


def test_a_key_created_after_a_miss_is_found(store: Store, admin: Principal) -> None:
    clock = FakeClock()
    auth = Authenticator(store, clock=clock)
    with pytest.raises(Unauthorized):
        auth.authenticate("mp_0123456789ab_" + "a" * 43)
    created = create_key(store, admin, role="consumer", name="acme", deployments=["d"])
    clock.now += 1
    assert auth.authenticate(created.key).key_id == created.info.id


def test_only_admins_manage_keys(store: Store, admin: Principal) -> None:
    developer = Authenticator(store).authenticate(create_key(store, admin, role="developer", name="dev").key)
    with pytest.raises(Forbidden, match=r"role 'developer', which may not 'keys:admin'.*role admin"):
        create_key(store, developer, role="admin", name="escalated")
    with pytest.raises(Forbidden):
        revoke_key(store, developer, developer.key_id or "")
    with pytest.raises(Forbidden):
        list_keys(store, developer)
    with store.db.session() as session:
        assert session.scalars(select(ApiKey.name)).all() == ["dev"]


def test_scope_and_limits_are_validated(store: Store, admin: Principal) -> None:
    with pytest.raises(Invalid, match="at least one --deployment"):
        create_key(store, admin, role="consumer", name="acme")
    with pytest.raises(Invalid, match="scopes consumer keys"):
        create_key(store, admin, role="developer", name="dev", deployments=["d"])
    with pytest.raises(Invalid, match="unknown role 'root'"):
        create_key(store, admin, role="root", name="x")
    with pytest.raises(Invalid, match="--rate"):
        create_key(store, admin, role="developer", name="dev", rate="fast")
    assert list_keys(store, admin) == []


def test_bootstrap_creates_one_admin_key_and_the_last_one_stays(store: Store, admin: Principal) -> None:
    raw = ensure_admin_key(store)
    assert raw is not None and ensure_admin_key(store) is None
    principal = Authenticator(store).authenticate(raw)
    assert principal.role is Role.ADMIN
    with pytest.raises(Conflict, match="last active admin key"):
        revoke_key(store, principal, principal.key_id or "")
    second = create_key(store, principal, role="admin", name="ops")
    revoke_key(store, principal, principal.key_id or "")
    with pytest.raises(Conflict, match="already revoked"):
        revoke_key(store, admin, principal.key_id or "")
    with pytest.raises(NotFound, match="keys list"):
        revoke_key(store, admin, "ffffffffffff")
    assert [k.id for k in list_keys(store, admin, include_revoked=False)] == [second.info.id]


def test_the_gate_remembers_a_granted_predict_only_until_keys_change(store: Store, admin: Principal) -> None:
    from modelplane.api.gate import PlatformGate
    from modelplane.security.limits import Limiter
    from modelplane.serving.types import Credentials

    clock = FakeClock()
    gate = PlatformGate(Authenticator(store, recheck_s=0.5, clock=clock), Limiter(), None)
    created = create_key(store, admin, role="consumer", name="acme", deployments=["digits"])
    credentials = Credentials(f"Bearer {created.key}", None)
    assert gate.enter(credentials, "digits").name == "acme"
    assert gate.enter(credentials, "digits").name == "acme"  # remembered
    for _ in range(2):  # a refusal is never remembered as a grant
        with pytest.raises(Forbidden, match="may predict only on digits"):
            gate.enter(credentials, "iris")
    revoke_key(store, admin, created.info.id)
    clock.now += 0.5
    with pytest.raises(Unauthorized, match="revoked"):
        gate.enter(credentials, "digits")
