"""Who is calling: what `authenticate` returns and what `authorize` and the limiter judge."""

from __future__ import annotations

from dataclasses import dataclass

from modelplane.security.limits import Quota, RateLimit
from modelplane.security.roles import Role


@dataclass(frozen=True)
class Principal:
    """An API key's identity and grants; `key_id` is None for the in-process user (trusted as admin)."""

    key_id: str | None
    name: str
    role: Role
    deployments: tuple[str, ...] = ()
    rate: RateLimit | None = None
    quota: Quota | None = None

    @property
    def actor(self) -> str:
        """What the audit ledger and `created_by` columns record: the key id, or the local user's name."""
        return self.key_id or self.name

    @classmethod
    def local(cls, user: str) -> Principal:
        """Whoever runs the library in-process already holds the database, so is the admin."""
        return cls(key_id=None, name=user, role=Role.ADMIN)
