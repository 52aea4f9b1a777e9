"""API keys, usage reports and the audit ledger in-process (you hold the database: you act as the admin)."""

from __future__ import annotations

import builtins
from datetime import date
from typing import TYPE_CHECKING

from modelplane.store import Store

if TYPE_CHECKING:
    from modelplane.security.audit import AuditRecord, Head, Verification
    from modelplane.security.keys import KeyInfo, NewKey
    from modelplane.security.metering import UsageRow
    from modelplane.security.principal import Principal


class Keys:
    """API keys; in-process you act as the admin (you already hold the database)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    @staticmethod
    def _actor() -> Principal:
        from modelplane.provenance import current_user
        from modelplane.security.principal import Principal

        return Principal.local(current_user())

    def create(
        self,
        *,
        role: str,
        name: str,
        deployments: tuple[str, ...] | builtins.list[str] = (),
        rate: str | None = None,
        quota: str | None = None,
    ) -> NewKey:
        """A new key; the result's `.key` is the only time the raw key is shown."""
        from modelplane.security.keys import create_key

        return create_key(
            self._store,
            self._actor(),
            role=role,
            name=name,
            deployments=deployments,
            rate=rate,
            quota=quota,
        )

    def list(self, *, include_revoked: bool = True) -> builtins.list[KeyInfo]:
        from modelplane.security.keys import list_keys

        return list_keys(self._store, self._actor(), include_revoked=include_revoked)

    def revoke(self, key_id: str) -> KeyInfo:
        from modelplane.security.keys import revoke_key

        return revoke_key(self._store, self._actor(), key_id)


class UsageReports:
    def __init__(self, store: Store) -> None:
        self._store = store

    def report(
        self, since: date | str | None = None, until: date | str | None = None, *, key: str | None = None
    ) -> builtins.list[UsageRow]:
        """Usage per key, deployment and UTC day, `since` (default: the 1st of this month) and `until`
        (default: today) inclusive, as dates or YYYY-MM-DD."""
        from modelplane.security.metering import parse_day, usage_report

        first = parse_day(since, "--since") if since else None
        return usage_report(self._store, first, parse_day(until, "--until") if until else None, key=key)


class AuditLog:
    def __init__(self, store: Store) -> None:
        self._store = store

    def log(self, *, limit: int = 50) -> builtins.list[AuditRecord]:
        """The newest entries, newest first."""
        from modelplane.security.audit import log

        return log(self._store, limit=limit)

    def verify(self) -> Verification:
        """Recompute the hash chain; `.ok`, or `.first_bad` and `.message` naming what was tampered with."""
        from modelplane.security.audit import verify

        return verify(self._store)

    def head(self) -> Head:
        from modelplane.security.audit import head

        return head(self._store)
