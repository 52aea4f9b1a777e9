"""Deployments written by several servers on one database: saves and deletes of one name queue instead of
colliding, and every change another server commits is one a server's poll notices."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import update

from modelplane.errors import NotFound
from modelplane.registry.registry import delete_version, remove_alias, set_alias
from modelplane.serving.deployments import (
    delete_deployment,
    get_deployment,
    list_deployments,
    parse_spec,
    save_deployment,
)
from modelplane.serving.manager import ModelManager
from modelplane.store import Store
from modelplane.store.orm import Deployment
from tests.concurrency import at_once, backend_store
from tests.registry.test_registry import _register


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    opened = backend_store(request, tmp_path)
    _register(opened, tmp_path)
    yield opened
    opened.close()


def test_concurrent_saves_of_one_deployment_each_bump_its_generation(any_store: Store) -> None:
    spec = parse_spec({"model": "digits-mlp@1"})
    assert at_once(8, lambda n: save_deployment(any_store, spec, name="web", by=f"u{n}")) == []
    assert get_deployment(any_store, "web").generation == 8
    assert [d.name for d in list_deployments(any_store)] == ["web"]


def test_concurrent_deletes_delete_once(any_store: Store) -> None:
    save_deployment(any_store, parse_spec({"model": "digits-mlp@1"}), name="web")
    errors = at_once(4, lambda _: delete_deployment(any_store, "web"))
    assert len(errors) == 3 and all(isinstance(e, NotFound) for e in errors)
    assert list_deployments(any_store) == []


def test_every_serving_change_moves_the_fingerprint(any_store: Store, tmp_path: Path) -> None:
    """Even a change whose row carries an older time than one before it (two servers' clocks, or commits
    landing in the other order than their timestamps), which a newest-timestamp fingerprint misses."""
    manager = ModelManager(any_store, poll_interval_s=0)
    seen = [manager._store_fingerprint()]

    def changed() -> bool:
        seen.append(manager._store_fingerprint())
        return seen[-1] != seen[-2]

    spec = parse_spec({"model": "digits-mlp@prod"})
    set_alias(any_store, "digits-mlp@1", "prod")
    assert changed()
    save_deployment(any_store, spec, name="a")
    save_deployment(any_store, spec, name="b")
    assert changed()
    with any_store.db.session() as session:  # "a" stamped later than anything "b" will get
        session.execute(
            update(Deployment).where(Deployment.name == "a").values(updated_at=datetime(2100, 1, 1))
        )
    changed()
    save_deployment(any_store, spec, name="b")  # the count and the newest time stay as they were
    assert changed()
    (tmp_path / "v2").mkdir()
    _register(any_store, tmp_path / "v2", payload=b"2")
    assert changed()
    set_alias(any_store, "digits-mlp@2", "prod")
    assert changed()
    delete_deployment(any_store, "a")
    assert changed()
    remove_alias(any_store, "digits-mlp", "prod")
    assert changed()
    delete_version(any_store, "digits-mlp@1")
    assert changed()
    assert not changed()  # nothing happened: nothing to reload
