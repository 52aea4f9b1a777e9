"""Console sessions: a random cookie token in the browser, its sha256 and a CSRF token in the store.

The API key is used once, at sign-in, and never reaches the browser's storage: the session row names the
key by id, so revoking the key ends its sessions at the next request (the Authenticator rechecks keys
about every half second). Sessions live in the store, so several servers on one database share them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete

from modelplane.errors import Unauthorized
from modelplane.jobs.views import aware
from modelplane.security import audit
from modelplane.store import Store
from modelplane.store.orm import ConsoleSession, utcnow

DEFAULT_IDLE_S = 8 * 3600
_EXTEND_AFTER = timedelta(minutes=1)  # an active session's expiry moves at most once a minute (one write)


class SessionExpired(Unauthorized):
    """The cookie names a session that ended (idle too long, signed out, or from an older store)."""


@dataclass(frozen=True)
class Session:
    key_id: str | None  # None: the anonymous admin of a server with auth off
    csrf: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Sessions:
    """Create, resolve and end sessions; `idle_s` without a request ends one."""

    def __init__(self, store: Store, *, idle_s: float = DEFAULT_IDLE_S) -> None:
        self._store = store
        self._idle = timedelta(seconds=idle_s)

    def create(self, key_id: str | None) -> tuple[str, Session]:
        """A new session's cookie token (shown to the browser once) and the session."""
        token = secrets.token_urlsafe(32)
        now = utcnow()
        with self._store.db.session() as db:
            db.execute(delete(ConsoleSession).where(ConsoleSession.expires_at < now))
            row = ConsoleSession(
                token_hash=_hash(token),
                key_id=key_id,
                csrf=secrets.token_urlsafe(32),
                created_at=now,
                expires_at=now + self._idle,
            )
            db.add(row)
            audit.append(db, key_id or "anonymous", "console.signin", key_id or "anonymous")
            session = Session(row.key_id, row.csrf)
        return token, session

    def resolve(self, token: str) -> Session:
        now = utcnow()
        with self._store.db.session() as db:
            row = db.get(ConsoleSession, _hash(token))
            if row is None or aware(row.expires_at) <= now:
                if row is not None:
                    db.delete(row)
                raise SessionExpired("your console session has expired; sign in again")
            if aware(row.expires_at) - now < self._idle - _EXTEND_AFTER:
                row.expires_at = now + self._idle
            return Session(row.key_id, row.csrf)

    def end(self, token: str, *, actor: str) -> None:
        with self._store.db.session() as db:
            ended = db.execute(delete(ConsoleSession).where(ConsoleSession.token_hash == _hash(token)))
            if ended.rowcount:  # type: ignore[attr-defined]
                audit.append(db, actor, "console.signout", actor)


def same_token(sent: str | None, expected: str) -> bool:
    """Constant-time comparison of a form's or header's CSRF token with the session's."""
    return sent is not None and hmac.compare_digest(sent.encode(), expected.encode())
