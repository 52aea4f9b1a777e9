"""Alias moves and registrations from many connections at once (as two servers on one database make them):
none is lost, each move records where the alias really was, and the audit chain stays whole."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import pytest

from modelplane.registry.registry import get_model, remove_alias, set_alias
from modelplane.security import audit
from modelplane.store import Store
from tests.concurrency import at_once, backend_store
from tests.registry.test_registry import _register


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    opened = backend_store(request, tmp_path)
    yield opened
    opened.close()


def test_concurrent_alias_moves_are_all_recorded_in_order(any_store: Store, tmp_path: Path) -> None:
    for payload in (b"1", b"2", b"3"):
        _register(any_store, tmp_path, payload=payload)
    moves = 24
    errors = at_once(moves, lambda n: set_alias(any_store, f"digits-mlp@{n % 3 + 1}", "prod", by=f"u{n}"))
    assert errors == []

    history = get_model(any_store, "digits-mlp").alias_history
    assert len(history) == moves and sorted(m.by for m in history) == sorted(f"u{n}" for n in range(moves))
    assert history[0].from_version is None
    for before, after in pairwise(history):
        assert after.from_version == before.to_version  # each move saw the one before it
    assert get_model(any_store, "digits-mlp").aliases["prod"] == history[-1].to_version

    entries = [e for e in reversed(audit.log(any_store, limit=100)) if e.action == "model.alias.moved"]
    assert [(e.details["from"], e.details["to"]) for e in entries] == [
        (m.from_version, m.to_version) for m in history
    ]
    verification = audit.verify(any_store)
    assert verification.ok and verification.entries == 3 + moves


def test_concurrent_registrations_number_versions_once_each(any_store: Store, tmp_path: Path) -> None:
    count = 8
    refs: list[str] = []

    def register_one(n: int) -> None:
        folder = tmp_path / f"w{n}"
        folder.mkdir()
        refs.append(_register(any_store, folder, payload=str(n).encode()))

    assert at_once(count, register_one) == []
    assert sorted(refs) == sorted(f"digits-mlp@{n}" for n in range(1, count + 1))
    assert audit.verify(any_store).ok


def test_a_removal_racing_moves_is_one_of_them(any_store: Store, tmp_path: Path) -> None:
    _register(any_store, tmp_path)
    set_alias(any_store, "digits-mlp@1", "prod")

    def act(n: int) -> None:
        if n == 0:
            remove_alias(any_store, "digits-mlp", "prod")
        else:
            set_alias(any_store, "digits-mlp@1", "prod", by=f"u{n}")

    assert at_once(6, act) == []
    history = get_model(any_store, "digits-mlp").alias_history
    assert len(history) == 7
    for before, after in pairwise(history):
        assert after.from_version == before.to_version
