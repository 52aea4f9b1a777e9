"""API keys, usage reports and the audit ledger on a server."""

from __future__ import annotations

import builtins
from datetime import date
from typing import TYPE_CHECKING

from modelplane.client.http import Area, parse, quoted

if TYPE_CHECKING:
    from modelplane.security.audit import AuditRecord, Head, Verification
    from modelplane.security.keys import KeyInfo, NewKey
    from modelplane.security.metering import UsageRow


class Keys(Area):
    def create(
        self,
        *,
        role: str,
        name: str,
        deployments: tuple[str, ...] | builtins.list[str] = (),
        rate: str | None = None,
        quota: str | None = None,
    ) -> NewKey:
        from modelplane.security.keys import KeyInfo, NewKey

        body = {"role": role, "name": name, "deployments": list(deployments), "rate": rate, "quota": quota}
        found = self._http.json("POST", "/api/v1/keys", json=body)
        return NewKey(found["key"], parse(KeyInfo, found["info"]))

    def list(self, *, include_revoked: bool = True) -> builtins.list[KeyInfo]:
        from modelplane.security.keys import KeyInfo

        items = self._http.items("/api/v1/keys", include_revoked=include_revoked)
        return [parse(KeyInfo, item) for item in items]

    def revoke(self, key_id: str) -> KeyInfo:
        from modelplane.security.keys import KeyInfo

        return parse(KeyInfo, self._http.json("DELETE", f"/api/v1/keys/{quoted(key_id)}"))


class UsageReports(Area):
    def report(
        self, since: date | str | None = None, until: date | str | None = None, *, key: str | None = None
    ) -> builtins.list[UsageRow]:
        from modelplane.security.metering import UsageRow

        params = {
            **({"since": str(since)} if since else {}),
            **({"until": str(until)} if until else {}),
            **({"key": key} if key else {}),
        }
        return [parse(UsageRow, item) for item in self._http.items("/api/v1/usage", **params)]


class AuditLog(Area):
    def log(self, *, limit: int = 50) -> builtins.list[AuditRecord]:
        from modelplane.security.audit import AuditRecord

        return [
            parse(AuditRecord, item)
            for item in self._http.json("GET", "/api/v1/audit", params={"limit": limit})
        ]

    def verify(self) -> Verification:
        from modelplane.security.audit import Verification

        return parse(Verification, self._http.json("GET", "/api/v1/audit/verify"))

    def head(self) -> Head:
        from modelplane.security.audit import Head

        return parse(Head, self._http.json("GET", "/api/v1/audit/head"))
