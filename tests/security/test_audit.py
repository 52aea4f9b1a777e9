from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from sqlalchemy import text

from modelplane.security import audit
from modelplane.security.audit import GENESIS_HASH, REDACTED, entry_hash
from modelplane.store import Store


def _fill(store: Store, count: int) -> None:
    with store.db.session() as session:
        for i in range(count):
            audit.append(session, "alice", "model.alias.moved", f"digits@{i}", {"from": i, "to": i + 1})


def _sql(store: Store, *statements: str) -> None:
    with store.db.engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))


def test_entries_chain_from_genesis_and_verify(store: Store) -> None:
    assert audit.head(store) == audit.Head(0, GENESIS_HASH)
    assert audit.verify(store).message == f"chain intact, 0 entries, head {GENESIS_HASH}"
    _fill(store, 3)
    entries = audit.log(store, limit=10)
    assert [e.seq for e in entries] == [3, 2, 1]
    assert entries[-1].prev_hash == GENESIS_HASH and entries[0].prev_hash == entries[1].hash
    assert entries[0].details == {"from": 2, "to": 3}
    result = audit.verify(store)
    assert result.ok and result.entries == 3 and result.head == audit.Head(3, entries[0].hash)


def test_an_entry_rolls_back_with_its_change(store: Store) -> None:
    _fill(store, 1)
    with pytest.raises(RuntimeError), store.db.session() as session:
        audit.append(session, "alice", "deployment.saved", "digits")
        raise RuntimeError("the change failed")
    assert audit.head(store).seq == 1 and audit.verify(store).ok


def test_secrets_never_reach_the_ledger(store: Store) -> None:
    raw = "mp_0123456789ab_" + "x" * 43
    with store.db.session() as session:
        record = audit.append(
            session,
            "alice",
            "key.created",
            "0123456789ab",
            {"password": "hunter2", "nested": [{"API-Key": "k", "db_password": "p"}], "note": f"used {raw}"},
        )
    assert record.details == {
        "password": REDACTED,
        "nested": [{"API-Key": REDACTED, "db_password": REDACTED}],
        "note": f"used mp_0123456789ab_{REDACTED}",
    }


Tamper = Callable[[Store], None]


def _shift_in_forged_entry(store: Store) -> None:
    """A careful forger: renumber 5.. up by one and slot a correctly hashed entry in at 5."""
    prev = audit.log(store, limit=10)[-4].hash  # entry 4
    forged = entry_hash(5, "2026-01-01T00:00:00.000000Z", "mallory", "key.created", "x", "{}", prev)
    _sql(
        store,
        "UPDATE audit SET seq = seq + 1000 WHERE seq >= 5",
        "UPDATE audit SET seq = seq - 999 WHERE seq >= 1000",
        "INSERT INTO audit (seq, at, actor, action, target, details, prev_hash, hash) VALUES "
        f"(5, '2026-01-01T00:00:00.000000Z', 'mallory', 'key.created', 'x', '{{}}', '{prev}', '{forged}')",
        "UPDATE audit_head SET seq = seq + 1",
    )


TAMPERING: dict[str, tuple[Tamper, int, str]] = {
    "edited": (
        lambda s: _sql(s, "UPDATE audit SET actor = 'mallory' WHERE seq = 5"),
        5,
        "entry 5 was edited",
    ),
    "deleted": (lambda s: _sql(s, "DELETE FROM audit WHERE seq = 5"), 5, "entry 5 was deleted"),
    "inserted": (_shift_in_forged_entry, 5, "entry 5 was inserted"),
    "reordered": (
        lambda s: _sql(
            s,
            "UPDATE audit SET seq = -5 WHERE seq = 5",
            "UPDATE audit SET seq = 5 WHERE seq = 6",
            "UPDATE audit SET seq = 6 WHERE seq = -5",
        ),
        5,
        "entry 5 is out of order",
    ),
    "truncated": (lambda s: _sql(s, "DELETE FROM audit WHERE seq >= 7"), 7, "entries 7..8 were deleted"),
}


@pytest.mark.parametrize("problem", list(TAMPERING))
def test_tampering_is_detected_and_located(store: Store, problem: str) -> None:
    tamper, first_bad, message = TAMPERING[problem]
    _fill(store, 8)
    tamper(store)
    result = audit.verify(store)
    assert not result.ok
    assert (result.problem, result.first_bad) == (problem, first_bad)
    assert message in result.message


def test_an_entry_appended_behind_the_heads_back_is_found(store: Store) -> None:
    _fill(store, 2)
    last = audit.head(store).hash
    forged = entry_hash(3, "2026-01-01T00:00:00.000000Z", "mallory", "x", "y", "{}", last)
    _sql(
        store,
        "INSERT INTO audit (seq, at, actor, action, target, details, prev_hash, hash) VALUES "
        f"(3, '2026-01-01T00:00:00.000000Z', 'mallory', 'x', 'y', '{{}}', '{last}', '{forged}')",
    )
    result = audit.verify(store)
    assert (result.problem, result.first_bad) == ("inserted", 3)


def test_concurrent_appenders_do_not_fork_the_chain(any_store: Store) -> None:
    errors: list[BaseException] = []

    def appender(who: int) -> None:
        try:
            for i in range(15):
                with any_store.db.session() as session:
                    audit.append(session, f"user{who}", "deployment.saved", f"d{who}", {"i": i})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=appender, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    result = audit.verify(any_store)
    assert result.ok, result.message
    assert result.entries == 60 and result.head.seq == 60


@pytest.mark.parametrize("problem", ["reordered", "inserted"])
def test_tampering_is_located_on_postgres(pg_store: Store, problem: str) -> None:
    tamper, first_bad, message = TAMPERING[problem]
    _fill(pg_store, 8)
    assert audit.verify(pg_store, batch=3).ok  # streamed in several server-side batches
    tamper(pg_store)
    result = audit.verify(pg_store, batch=3)
    assert (result.problem, result.first_bad) == (problem, first_bad) and message in result.message
