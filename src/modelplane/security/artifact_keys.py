"""Master key rotation: every artifact's data key re-wrapped under a new master key, payloads untouched.

One transaction re-wraps them all, so a crash leaves every artifact under the old key or every one under
the new. It locks the artifacts table first (PostgreSQL) or holds SQLite's write lock from its first
update on, then re-reads until no artifact under the old key is left, so one written meanwhile is not
missed. Running it again with the same keys re-wraps only what is still under the old key.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func, select, text

from modelplane.errors import Invalid, Misconfigured
from modelplane.security import audit
from modelplane.security.envelope import unwrap, wrap
from modelplane.security.master_key import (
    MASTER_KEY_ENV,
    MASTER_KEY_FILE_ENV,
    MasterKey,
    configured_master_key,
)
from modelplane.store import Store
from modelplane.store.orm import Artifact


@dataclass(frozen=True)
class Rotation:
    old_key_id: str
    new_key_id: str
    rewrapped: int
    encrypted: int  # artifacts under the new key now
    plaintext: int  # artifacts written before encryption was on (not touched)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def rotate_master(store: Store, new: MasterKey, *, by: str) -> Rotation:
    """Re-wrap every data key from the configured master key to `new` (audited)."""
    old = configured_master_key(store.settings)
    if old is None:
        raise Misconfigured(
            f"no master key is configured, so there is nothing to rotate from; set {MASTER_KEY_ENV} or "
            f"{MASTER_KEY_FILE_ENV} to the current key"
        )
    if old.key_id == new.key_id:
        raise Invalid(f"the new key is the configured master key ({old.key_id}); give a new key")
    with store.db.session() as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("LOCK TABLE artifacts IN SHARE ROW EXCLUSIVE MODE"))
        foreign = session.scalars(
            select(Artifact.key_id).where(Artifact.key_id.not_in([old.key_id, new.key_id])).distinct()
        ).all()
        if foreign:
            raise Misconfigured(
                f"artifacts are encrypted with master key {', '.join(k or '' for k in foreign)}, which is "
                f"neither the configured key ({old.key_id}) nor the new one; nothing was changed"
            )
        rewrapped = 0
        while rows := session.scalars(select(Artifact).where(Artifact.key_id == old.key_id)).all():
            for row in rows:
                assert row.wrapped_key is not None
                row.wrapped_key = wrap(new, row.sha256, unwrap(old, row.sha256, row.wrapped_key))
                row.key_id = new.key_id
            session.flush()
            rewrapped += len(rows)
        encrypted = session.scalar(select(func.count()).where(Artifact.key_id == new.key_id)) or 0
        plaintext = session.scalar(select(func.count()).where(Artifact.key_id.is_(None))) or 0
        audit.append(
            session,
            by,
            "artifacts.master_key.rotated",
            f"master-key:{new.key_id}",
            {"from": old.key_id, "to": new.key_id, "rewrapped": rewrapped},
        )
    return Rotation(old.key_id, new.key_id, rewrapped, encrypted, plaintext)
