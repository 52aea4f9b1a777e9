"""The audit log read a page at a time and filtered (the console's Audit page)."""

from __future__ import annotations

from modelplane.security import audit
from modelplane.store import Store


def test_pages_back_by_seq_and_filters_by_actor_and_action(store: Store) -> None:
    with store.db.session() as session:
        for i in range(6):
            audit.append(session, "alice" if i % 2 else "bob", f"thing.{i % 3}", f"t{i}")
    newest = audit.log(store, limit=2)
    assert [e.target for e in newest] == ["t5", "t4"]
    older = audit.log(store, limit=2, before=newest[-1].seq)
    assert [e.target for e in older] == ["t3", "t2"]
    assert [e.target for e in audit.log(store, actor="alice")] == ["t5", "t3", "t1"]
    assert [e.target for e in audit.log(store, action="thing.0")] == ["t3", "t0"]
    assert [e.target for e in audit.log(store, actor="bob", action="thing.1")] == ["t4"]
