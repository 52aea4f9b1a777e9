"""The audit ledger: an append-only hash chain of every change, written in the change's own transaction.

entry.hash = sha256(orjson({seq, at, actor, action, target, details, prev_hash}, sorted keys)), where
`details` is the entry's canonical JSON text exactly as stored, so verifying never re-serialises it.
The first entry's prev_hash is GENESIS_HASH. The one-row `audit_head` holds the newest seq and hash:
`append` starts by incrementing it (UPDATE ... RETURNING), which takes SQLite's write lock or
PostgreSQL's row lock until commit, so concurrent appenders queue instead of forking the chain, and a
rolled-back change takes its entry with it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any, Literal

import orjson
from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.orm import Session

from modelplane.store import Store
from modelplane.store.orm import AuditEntry, AuditHead

GENESIS_HASH = "0" * 64
REDACTED = "[redacted]"
_SECRET_NAMES = frozenset(
    ("secret", "password", "passwd", "token", "api_key", "apikey", "authorization", "credentials", "raw_key")
)
_SECRET_SUFFIXES = tuple(f"_{name}" for name in ("secret", "password", "token", "api_key", "key_secret"))
_RAW_KEY = re.compile(r"\bmp_([0-9a-f]{12})_[A-Za-z0-9_-]{20,}")
_ORJSON = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY

Problem = Literal["edited", "deleted", "inserted", "reordered", "truncated"]


def _secret_name(name: Any) -> bool:
    lowered = str(name).lower().replace("-", "_")
    return lowered in _SECRET_NAMES or lowered.endswith(_SECRET_SUFFIXES)


def scrub(value: Any) -> Any:
    """Replace values under secret-looking keys, and any raw API key inside strings, by a marker."""
    if isinstance(value, Mapping):
        return {k: REDACTED if _secret_name(k) else scrub(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(v) for v in value]
    if isinstance(value, str):
        return _RAW_KEY.sub(r"mp_\1_" + REDACTED, value)
    return value


def entry_hash(seq: int, at: str, actor: str, action: str, target: str, details: str, prev_hash: str) -> str:
    canonical = orjson.dumps(
        {
            "seq": seq,
            "at": at,
            "actor": actor,
            "action": action,
            "target": target,
            "details": details,
            "prev_hash": prev_hash,
        },
        option=orjson.OPT_SORT_KEYS,
    )
    return hashlib.sha256(canonical).hexdigest()


@dataclass(frozen=True)
class AuditRecord:
    seq: int
    at: str
    actor: str
    action: str
    target: str
    details: dict[str, Any]
    prev_hash: str
    hash: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Head:
    seq: int
    hash: str


# Built once and run on the session's connection (Core, not the ORM's bulk path): an append is 3 statements.
_BUMP = (
    update(AuditHead)
    .where(AuditHead.id == 1)
    .values(seq=AuditHead.seq + 1)
    .returning(AuditHead.seq, AuditHead.hash)
)
_SET_HASH = update(AuditHead).where(AuditHead.id == 1).values(hash=bindparam("digest"))
_INSERT = insert(AuditEntry)


def append(
    session: Session, actor: str, action: str, target: str, details: Mapping[str, Any] | None = None
) -> AuditRecord:
    """Add one entry inside the caller's transaction: it commits, or rolls back, with the change."""
    body = orjson.dumps(scrub(dict(details or {})), option=_ORJSON).decode()
    at = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    # Flush the caller's pending writes first, so the head lock is the last lock this transaction takes.
    session.flush()
    connection = session.connection()
    seq, prev = connection.execute(_BUMP).one()
    digest = entry_hash(seq, at, actor, action, target, body, prev)
    connection.execute(
        _INSERT,
        {
            "seq": seq,
            "at": at,
            "actor": actor,
            "action": action,
            "target": target,
            "details": body,
            "prev_hash": prev,
            "hash": digest,
        },
    )
    connection.execute(_SET_HASH, {"digest": digest})
    return AuditRecord(seq, at, actor, action, target, orjson.loads(body), prev, digest)


def head(store: Store) -> Head:
    with store.db.session() as session:
        row = session.get_one(AuditHead, 1)
        return Head(row.seq, row.hash)


def log(
    store: Store,
    *,
    limit: int = 50,
    before: int | None = None,
    actor: str | None = None,
    action: str | None = None,
) -> list[AuditRecord]:
    """The newest `limit` entries, newest first; `before` a seq pages back, `actor`/`action` filter."""
    query = select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(limit)
    if before is not None:
        query = query.where(AuditEntry.seq < before)
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if action:
        query = query.where(AuditEntry.action == action)
    with store.db.session() as session:
        rows = session.scalars(query)
        return [
            AuditRecord(
                r.seq, r.at, r.actor, r.action, r.target, orjson.loads(r.details), r.prev_hash, r.hash
            )
            for r in rows
        ]


@dataclass(frozen=True)
class Verification:
    """Intact, or the first bad entry (`first_bad`), what happened to it (`problem`) and a sentence."""

    entries: int
    head: Head
    first_bad: int | None = None
    problem: Problem | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.problem is None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


class _Broken(Exception):
    def __init__(self, seq: int, problem: Problem, message: str) -> None:
        super().__init__(message)
        self.seq, self.problem, self.message = seq, problem, message


_COLUMNS = (
    AuditEntry.seq,
    AuditEntry.at,
    AuditEntry.actor,
    AuditEntry.action,
    AuditEntry.target,
    AuditEntry.details,
    AuditEntry.prev_hash,
    AuditEntry.hash,
)


class _Walker:
    """Walks rows in seq order, remembering the last two hashes (to tell an insertion from a reorder)."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.last, self.prev, self.before_prev = 0, GENESIS_HASH, GENESIS_HASH

    def walk(self, rows: Iterable[Any]) -> None:
        expected, prev, before_prev = self.last + 1, self.prev, self.before_prev
        for seq, at, actor, action, target, details, prev_hash, stored in rows:
            if seq != expected:
                raise _Broken(
                    expected, "deleted", f"entry {expected} was deleted: the chain jumps to entry {seq}"
                )
            if prev_hash != prev:
                self._unlinked(seq, prev_hash, before_prev)
            if entry_hash(seq, at, actor, action, target, details, prev_hash) != stored:
                raise _Broken(
                    seq, "edited", f"entry {seq} was edited: its content no longer matches its hash"
                )
            expected, before_prev, prev = seq + 1, prev, stored
        self.last, self.prev, self.before_prev = expected - 1, prev, before_prev

    def _unlinked(self, seq: int, prev_hash: str, before_prev: str) -> None:
        if seq > 1 and prev_hash == before_prev:
            raise _Broken(
                seq - 1,
                "inserted",
                f"entry {seq - 1} was inserted: entry {seq} links past it to entry {seq - 2}",
            )
        linked = self.connection.execute(select(AuditEntry.seq).where(AuditEntry.hash == prev_hash)).scalar()
        if linked is not None and linked > seq:
            raise _Broken(
                seq,
                "reordered",
                f"entry {seq} is out of order: it links to entry {linked}, which comes after it",
            )
        if linked is not None:
            raise _Broken(
                linked + 1,
                "inserted",
                f"entries {linked + 1}..{seq - 1} were inserted: entry {seq} links back to entry {linked}",
            )
        raise _Broken(
            seq,
            "inserted",
            f"entry {seq} does not link to entry {seq - 1}: it was inserted or entry {seq - 1} rewritten",
        )


def _read_head(connection: Connection) -> Head:
    top = connection.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).one()
    return Head(top.seq, top.hash)


def verify(store: Store, *, batch: int = 10_000) -> Verification:
    """Recompute the whole chain (streamed) and name the first entry that was tampered with."""
    ordered = select(*_COLUMNS).order_by(AuditEntry.seq)
    with store.db.engine.connect() as connection:
        walker = _Walker(connection)
        try:
            walker.walk(connection.execute(ordered.execution_options(yield_per=batch)))
            # Read after the walk: entries committed meanwhile have seq <= head.seq, so walk those too.
            current = _read_head(connection)
            if current.seq > walker.last:
                walker.walk(
                    connection.execute(
                        ordered.where(AuditEntry.seq > walker.last, AuditEntry.seq <= current.seq)
                    )
                )
            _check_head(walker, current)
        except _Broken as broken:
            return Verification(
                broken.seq - 1, _read_head(connection), broken.seq, broken.problem, broken.message
            )
    return Verification(
        walker.last, current, message=f"chain intact, {walker.last} entries, head {current.hash}"
    )


def _check_head(walker: _Walker, current: Head) -> None:
    if current.seq > walker.last:
        raise _Broken(
            walker.last + 1,
            "truncated",
            f"entries {walker.last + 1}..{current.seq} were deleted: the head records {current.seq} entries",
        )
    if current.seq < walker.last:
        raise _Broken(
            current.seq + 1,
            "inserted",
            f"entry {current.seq + 1} was inserted after the head (entry {current.seq}) outside the ledger",
        )
    if current.hash != walker.prev:
        raise _Broken(
            current.seq,
            "edited",
            f"entry {current.seq} was rewritten: its hash differs from the head's record",
        )
