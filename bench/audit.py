"""Audit ledger target: `verify` recomputes a chain of 100,000 entries in <= 2 s.

The first entries go through `audit.append`, one transaction each like real changes (timed as well); the
rest are bulk-inserted with the same hash function, so filling stays quick. A PostgreSQL URL is used as
a server to create (and drop) a scratch database on, never written to itself.

    .venv/bin/python bench/audit.py [--entries 100000] [--database-url postgresql+psycopg://postgres@host/db]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, insert, text, update
from sqlalchemy.engine import make_url

from modelplane.security import audit
from modelplane.store import Store
from modelplane.store.orm import AuditEntry, AuditHead

TARGET_S = 2.0
APPENDS = 1_000


@contextmanager
def scratch_url(server_url: str | None, folder: Path) -> Iterator[str]:
    if server_url is None:
        yield f"sqlite:///{folder / 'bench.db'}"
        return
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    name = f"modelplane_bench_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _append_each(store: Store, count: int) -> float:
    """Seconds per entry when every append is its own transaction."""
    started = time.perf_counter()
    for i in range(count):
        with store.db.session() as session:
            audit.append(
                session, "key01", "model.alias.moved", "digits-cnn@production", {"from": i, "to": i + 1}
            )
    return (time.perf_counter() - started) / max(count, 1)


def _bulk_extend(store: Store, total: int, batch: int = 10_000) -> None:
    current = audit.head(store)
    seq, prev = current.seq, current.hash
    at = "2026-11-23T10:00:00.000000Z"
    while seq < total:
        rows = []
        first, last = seq + 1, min(seq + batch, total)
        for seq in range(first, last + 1):
            details = f'{{"from":{seq},"note":"bench","to":{seq + 1}}}'
            digest = audit.entry_hash(seq, at, "key02", "deployment.saved", "digits-cnn", details, prev)
            rows.append(
                {
                    "seq": seq,
                    "at": at,
                    "actor": "key02",
                    "action": "deployment.saved",
                    "target": "digits-cnn",
                    "details": details,
                    "prev_hash": prev,
                    "hash": digest,
                }
            )
            prev = digest
        with store.db.session() as session:
            session.connection().execute(insert(AuditEntry), rows)
            session.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=seq, hash=prev))


def fill(store: Store, entries: int) -> float:
    """A chain of `entries`: the first APPENDS through `audit.append`; returns seconds per such append."""
    per_append = _append_each(store, min(APPENDS, entries))
    _bulk_extend(store, entries)
    return per_append


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--database-url", default=None, help="a PostgreSQL server (default: a SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, scratch_url(args.database_url, Path(tmp)) as url:
        store = Store(url, Path(tmp) / "artifacts")
        try:
            per_append = fill(store, args.entries)
            started = time.perf_counter()
            result = audit.verify(store)
            verify_s = time.perf_counter() - started
        finally:
            store.close()
    table = Table(title=f"audit ledger on {make_url(url).get_backend_name()}", title_justify="left")
    for column in ("entries", "append ms (1 tx each)", "verify s", "target s", "intact", "result"):
        table.add_column(column)
    passed = result.ok and result.entries == args.entries and verify_s <= TARGET_S
    table.add_row(
        f"{result.entries:,}",
        f"{per_append * 1000:.2f}",
        f"{verify_s:.3f}",
        f"<= {TARGET_S}",
        str(result.ok),
        "PASS" if passed else "FAIL",
    )
    Console(width=150).print(table)


if __name__ == "__main__":
    main()
