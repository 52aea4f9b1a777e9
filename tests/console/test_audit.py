"""Audit page (audit:read): newest entries, paging back by seq, filters, and the chain's verification."""

from __future__ import annotations

from sqlalchemy import update

from modelplane.security import audit
from modelplane.store.orm import AuditEntry
from tests.console.conftest import Console


def entries(console: Console, count: int) -> None:
    with console.store.db.session() as session:
        for i in range(count):
            audit.append(
                session, "robot" if i % 2 else "person", f"thing.{'made' if i % 3 else 'gone'}", f"t{i}"
            )


def test_the_newest_entries_and_older_pages(console: Console) -> None:
    entries(console, 120)
    client = console.signed_in()
    page = client.get("/ui/audit")
    head = audit.head(console.store).seq
    assert page.status_code == 200 and f'<td class="num">{head}</td>' in page.text
    assert (
        f'<td class="num">{head - 49}</td>' in page.text
        and f'<td class="num">{head - 50}</td>' not in page.text
    )
    assert f"before={head - 49}" in page.text
    older = client.get(f"/ui/audit?before={head - 49}")
    assert (
        f'<td class="num">{head - 50}</td>' in older.text and f'<td class="num">{head}</td>' not in older.text
    )


def test_filters_by_actor_and_action(console: Console) -> None:
    entries(console, 12)
    page = console.signed_in().get("/ui/audit?actor=robot&action=thing.gone")
    targets = [f"<code>t{i}</code>" for i in range(12)]
    shown = [i for i, target in enumerate(targets) if target in page.text]
    assert shown == [3, 9]


def test_verify_says_ok_with_the_count_and_head(console: Console) -> None:
    entries(console, 5)
    page = console.signed_in().get("/ui/audit/verify")
    found = audit.verify(console.store)
    assert page.status_code == 200
    assert f"OK: chain intact, {found.entries} entries, head hash <code>{found.head.hash}</code>" in page.text


def test_verify_names_the_first_tampered_entry(console: Console) -> None:
    entries(console, 5)
    with console.store.db.session() as session:
        session.execute(update(AuditEntry).where(AuditEntry.seq == 3).values(actor="mallory"))
    page = console.signed_in().get("/ui/audit/verify")
    assert page.status_code == 200 and "BROKEN at entry 3" in page.text


def test_developer_and_consumer_get_403(console: Console) -> None:
    for key in (console.key("developer"), console.key("consumer", "iris")):
        client = console.signed_in(key)
        assert client.get("/ui/audit").status_code == 403
        assert client.get("/ui/audit/verify").status_code == 403
