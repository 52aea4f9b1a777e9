"""API keys: created by admins, shown once, stored as a hash, verified from an in-memory cache.

A key reads `mp_<key id>_<secret>`: the id (12 hex digits) finds the row without a scan; the secret (32
random bytes, URL-safe base64) is stored only as sha256("<key id>:<secret>"). A secret with 256 bits of
entropy cannot be brute-forced from its hash, so a plain digest suffices (no slow KDF, no server pepper).

Every key change bumps the one-row `api_key_generation` inside its transaction (the UPDATE also serialises
key changes). An `Authenticator` caches verified keys by id and polls that counter at most every
`recheck_s` (0.5 s): a revoke reaches every running server within about half a second, and the hot path
is a dict lookup plus one sha256 and `hmac.compare_digest`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from modelplane.errors import Conflict, Invalid, NotFound, Unauthorized
from modelplane.refs import check_name
from modelplane.security import audit
from modelplane.security.limits import parse_quota, parse_rate
from modelplane.security.principal import Principal
from modelplane.security.roles import Role, authorize, parse_role
from modelplane.store import Store
from modelplane.store.orm import ApiKey, ApiKeyGeneration, utcnow

PREFIX = "mp"
_KEY = re.compile(r"^mp_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
_NEGATIVE_CACHE_LIMIT = 10_000
_MISSING: Any = object()
_UNKNOWN = b"0" * 64  # compared with when no key has the id, so that answer costs what a wrong secret does
_INVALID_KEY = (
    "API key {key_id} is not valid (unknown, or its secret does not match); check the whole key was "
    "copied, or ask an admin for a key"
)


def _digest(key_id: str, secret: str) -> str:
    return hashlib.sha256(f"{key_id}:{secret}".encode()).hexdigest()


@dataclass(frozen=True)
class KeyInfo:
    """A key as listed: never its secret."""

    id: str
    name: str
    role: str
    deployments: list[str]
    rate: str | None
    quota: str | None
    created_at: datetime
    created_by: str
    revoked_at: datetime | None
    revoked_by: str | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "deployments": self.deployments,
            "rate": self.rate,
            "quota": self.quota,
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "revoked_by": self.revoked_by,
            "active": self.active,
        }


@dataclass(frozen=True)
class NewKey:
    """The one moment the raw key exists outside its holder's hands: show it, then forget it."""

    key: str
    info: KeyInfo


def _info(row: ApiKey) -> KeyInfo:
    return KeyInfo(
        row.id,
        row.name,
        row.role,
        list(row.deployments),
        row.rate,
        row.quota,
        row.created_at,
        row.created_by,
        row.revoked_at,
        row.revoked_by,
    )


def _principal(row: ApiKey) -> Principal:
    return Principal(
        key_id=row.id,
        name=row.name,
        role=Role(row.role),
        deployments=tuple(row.deployments),
        rate=parse_rate(row.rate) if row.rate else None,
        quota=parse_quota(row.quota) if row.quota else None,
    )


def _bump_generation(session: Session) -> None:
    """First statement of every key change: takes the write lock (SQLite) or row lock (PostgreSQL)."""
    session.execute(
        update(ApiKeyGeneration)
        .where(ApiKeyGeneration.id == 1)
        .values(generation=ApiKeyGeneration.generation + 1)
        .execution_options(synchronize_session=False)
    )


def _active_admins(session: Session) -> int:
    query = select(func.count()).where(ApiKey.role == Role.ADMIN.value, ApiKey.revoked_at.is_(None))
    return session.scalar(query) or 0


def _scope(role: Role, deployments: Iterable[str]) -> list[str]:
    names = sorted({check_name(d, "deployment") for d in deployments})
    if role is Role.CONSUMER and not names:
        raise Invalid(
            "a consumer key predicts on named deployments only; give at least one --deployment NAME"
        )
    if role is not Role.CONSUMER and names:
        raise Invalid(f"--deployment scopes consumer keys; a {role.value} key reaches every deployment")
    return names


def _insert(
    session: Session,
    *,
    by: str,
    role: Role,
    name: str,
    deployments: list[str],
    rate: str | None,
    quota: str | None,
) -> NewKey:
    key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    row = ApiKey(
        id=key_id,
        name=name,
        role=role.value,
        deployments=deployments,
        secret_hash=_digest(key_id, secret),
        rate=rate,
        quota=quota,
        created_by=by,
    )
    session.add(row)
    session.flush()
    details = {"name": name, "role": role.value, "deployments": deployments, "rate": rate, "quota": quota}
    audit.append(session, by, "key.created", key_id, details)
    return NewKey(f"{PREFIX}_{key_id}_{secret}", _info(row))


def create_key(
    store: Store,
    actor: Principal,
    *,
    role: str,
    name: str,
    deployments: Iterable[str] = (),
    rate: str | None = None,
    quota: str | None = None,
) -> NewKey:
    """A new key (admins only, so no one grants more than they hold); the raw key is in the result once."""
    authorize(actor, "keys:admin")
    parsed_role = parse_role(role)
    check_name(name, "key")
    scope = _scope(parsed_role, deployments)
    rate_text = str(parse_rate(rate)) if rate else None
    quota_text = str(parse_quota(quota)) if quota else None
    with store.db.session() as session:
        _bump_generation(session)
        return _insert(
            session,
            by=actor.actor,
            role=parsed_role,
            name=name,
            deployments=scope,
            rate=rate_text,
            quota=quota_text,
        )


def ensure_admin_key(store: Store) -> str | None:
    """At server start: when no active admin key exists, create one and return it (once); else None."""
    with store.db.session() as session:
        _bump_generation(session)
        if _active_admins(session):
            return None
        created = _insert(
            session, by="bootstrap", role=Role.ADMIN, name="admin", deployments=[], rate=None, quota=None
        )
        return created.key


def list_keys(store: Store, actor: Principal, *, include_revoked: bool = True) -> list[KeyInfo]:
    authorize(actor, "keys:admin")
    query = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)
    if not include_revoked:
        query = query.where(ApiKey.revoked_at.is_(None))
    with store.db.session() as session:
        return [_info(row) for row in session.scalars(query)]


def revoke_key(store: Store, actor: Principal, key_id: str) -> KeyInfo:
    """Revoke for good; refused for the last active admin key (create another first)."""
    authorize(actor, "keys:admin")
    with store.db.session() as session:
        _bump_generation(session)
        row = session.get(ApiKey, key_id)
        if row is None:
            raise NotFound(f"API key '{key_id}' does not exist; list keys with `modelplane keys list`")
        if row.revoked_at is not None:
            raise Conflict(f"API key {key_id} was already revoked at {row.revoked_at:%Y-%m-%d %H:%M:%S}")
        if row.role == Role.ADMIN.value and _active_admins(session) == 1:
            raise Conflict(
                f"API key {key_id} is the last active admin key; create another admin key before revoking it"
            )
        row.revoked_at, row.revoked_by = utcnow(), actor.actor
        audit.append(session, actor.actor, "key.revoked", key_id, {"name": row.name, "role": row.role})
        session.flush()
        return _info(row)


@dataclass(frozen=True)
class _Verified:
    digest: bytes
    principal: Principal
    revoked: str | None


class Authenticator:
    """Turns a raw key into a Principal; one per server process, shared by all threads and the loop."""

    def __init__(
        self, store: Store, *, recheck_s: float = 0.5, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._store = store
        self._recheck_s = recheck_s
        self._clock = clock
        self._lock = threading.Lock()  # guards the cache and generation; never held across I/O
        self._cache: dict[str, _Verified | None] = {}
        # Raw keys that verified under the current generation: a repeat caller skips the parse, the hash
        # and the comparison (~1 us of every request). Only keys that verified get in, so it stays as
        # small as the set of keys in use; a change to any key empties it with the cache.
        self._accepted: dict[str, Principal] = {}
        self._generation = -1
        self._next_check = 0.0

    def authenticate(self, raw_key: str) -> Principal:
        """The key's Principal, or Unauthorized (malformed, unknown, wrong secret, revoked)."""
        self._maybe_recheck()
        generation = self._generation
        accepted = self._accepted.get(raw_key)
        if accepted is not None:
            return accepted
        match = _KEY.match(raw_key.strip())
        if match is None:
            raise Unauthorized(
                "malformed API key: expected mp_<12 hex digit key id>_<43 character secret>, sent as "
                "'Authorization: Bearer KEY'"
            )
        key_id, secret = match.groups()
        entry = self._cache.get(key_id, _MISSING)
        if entry is _MISSING:
            entry = self._load(key_id)
        # One answer, and the same work, for an unknown id and a wrong secret: a caller must not learn
        # which key ids exist.
        sent = _digest(key_id, secret).encode()
        matches = hmac.compare_digest(_UNKNOWN if entry is None else entry.digest, sent)
        if entry is None or not matches:
            raise Unauthorized(_INVALID_KEY.format(key_id=key_id))
        if entry.revoked is not None:
            raise Unauthorized(entry.revoked)
        with self._lock:
            if self._generation == generation:  # else keys changed meanwhile: verify again next time
                self._accepted[raw_key] = entry.principal
        return entry.principal

    def by_id(self, key_id: str) -> Principal:
        """The Principal of a key already verified once (a console session holds its id, never the key):
        Unauthorized once the key is revoked or gone."""
        self._maybe_recheck()
        entry = self._cache.get(key_id, _MISSING)
        if entry is _MISSING:
            entry = self._load(key_id)
        if entry is None:
            raise Unauthorized(f"API key {key_id} no longer exists; sign in with another key")
        if entry.revoked is not None:
            raise Unauthorized(entry.revoked)
        return entry.principal

    def generation(self) -> int:
        """The keys' generation as of the last recheck (rechecking when due): any change to any key moves
        it, so a decision cached under one generation is void under the next."""
        self._maybe_recheck()
        return self._generation

    def _maybe_recheck(self) -> None:
        now = self._clock()
        if now < self._next_check:
            return
        self._next_check = now + self._recheck_s
        with self._store.db.session() as session:
            generation = session.scalar(select(ApiKeyGeneration.generation).where(ApiKeyGeneration.id == 1))
        self._adopt(generation or 0)

    def _adopt(self, generation: int) -> bool:
        """Drop the cache when keys changed since it was filled; False when `generation` is already stale."""
        with self._lock:
            if generation > self._generation:
                self._cache, self._accepted, self._generation = {}, {}, generation
            return generation == self._generation

    def _load(self, key_id: str) -> _Verified | None:
        # Read the generation before the row: an entry is cached under a generation no newer than its row.
        with self._store.db.session() as session:
            generation = session.scalar(select(ApiKeyGeneration.generation).where(ApiKeyGeneration.id == 1))
            row = session.get(ApiKey, key_id)
            entry = None
            if row is not None:
                revoked = None
                if row.revoked_at is not None:
                    revoked = (
                        f"API key {key_id} ('{row.name}') was revoked at {row.revoked_at:%Y-%m-%d %H:%M} "
                        "UTC; ask an admin for a new key"
                    )
                entry = _Verified(row.secret_hash.encode(), _principal(row), revoked)
        if self._adopt(generation or 0):
            with self._lock:
                if entry is None and len(self._cache) >= _NEGATIVE_CACHE_LIMIT:
                    self._cache = {k: v for k, v in self._cache.items() if v is not None}
                self._cache[key_id] = entry
        return entry
