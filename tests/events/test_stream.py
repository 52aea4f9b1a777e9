"""The ledger as events: the catalogue, what each role sees, filters, and resuming after an id."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from modelplane.errors import Invalid
from modelplane.events.catalogue import parse_types
from modelplane.events.stream import follow, read_events, recent_events
from modelplane.registry.registry import set_alias
from modelplane.security.keys import create_key
from modelplane.security.principal import Principal
from modelplane.security.roles import Role
from modelplane.serving.deployments import delete_deployment, parse_spec, save_deployment
from modelplane.store import Store
from tests.events.conftest import register_version

ADMIN = Principal.local("root")
DEVELOPER = Principal("000000000001", "dev", Role.DEVELOPER)
CONSUMER = Principal("000000000002", "acme", Role.CONSUMER, deployments=("mine",))


@pytest.fixture
def history(store: Store, tmp_path: Path) -> Store:
    """A version, an alias move, a key, and two deployments (one the consumer's) saved and one deleted."""
    ref = register_version(store, tmp_path)
    set_alias(store, ref, "production", by="alice")
    create_key(store, ADMIN, role="consumer", name="acme", deployments=("mine",))
    save_deployment(store, parse_spec({"model": "m@production"}), name="mine", by="alice")
    save_deployment(store, parse_spec({"model": "m@1"}), name="theirs", by="alice")
    delete_deployment(store, "theirs", by="alice")
    return store


def _seen(store: Store, who: Principal, types: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    return [(e.type, e.target) for e in read_events(store, who, types=types)[0]]


def test_admin_sees_every_event_in_ledger_order(history: Store) -> None:
    events = read_events(history, ADMIN)[0]
    assert [e.type for e in events] == [
        "model.version.registered",
        "model.alias.moved",
        "key.created",
        "deployment.saved",
        "deployment.saved",
        "deployment.deleted",
    ]
    assert [e.id for e in events] == sorted(e.id for e in events)


def test_developer_sees_no_key_events(history: Store) -> None:
    assert "key.created" not in {t for t, _ in _seen(history, DEVELOPER)}
    assert ("model.alias.moved", "m@production") in _seen(history, DEVELOPER)


def test_consumer_sees_only_its_deployments(history: Store) -> None:
    assert _seen(history, CONSUMER) == [("deployment.saved", "mine")]


def test_types_filter_and_resume_after_an_id(history: Store) -> None:
    assert _seen(history, ADMIN, ("deployment.deleted",)) == [("deployment.deleted", "theirs")]
    events, last = read_events(history, ADMIN)
    after_two = read_events(history, ADMIN, after=events[1].id)[0]
    assert [e.id for e in after_two] == [e.id for e in events[2:]]
    assert read_events(history, ADMIN, after=last) == ([], last)


def test_a_page_resumes_where_it_stopped(history: Store) -> None:
    first, cursor = read_events(history, ADMIN, limit=2)
    rest, _ = read_events(history, ADMIN, after=cursor)
    assert [e.id for e in first + rest] == [e.id for e in read_events(history, ADMIN)[0]]


def test_recent_is_the_newest_oldest_first(history: Store) -> None:
    assert [e.type for e in recent_events(history, ADMIN, limit=2)] == [
        "deployment.saved",
        "deployment.deleted",
    ]
    assert [e.target for e in recent_events(history, CONSUMER, limit=5)] == ["mine"]


def test_follow_starts_now_and_hears_new_events(history: Store, tmp_path: Path) -> None:
    stream = follow(history, ADMIN, poll_s=0.01)
    set_alias(history, "m@1", "staging", by="bob")
    [event] = itertools.islice(stream, 1)
    assert (event.type, event.target, event.actor) == ("model.alias.moved", "m@staging", "bob")


def test_unknown_types_name_the_known_ones() -> None:
    with pytest.raises(
        Invalid, match=r"unknown event type model\.made; the event types are .*model\.alias\.moved"
    ):
        parse_types("model.alias.moved,model.made")
    assert parse_types(" key.created , key.created") == ("key.created",)
