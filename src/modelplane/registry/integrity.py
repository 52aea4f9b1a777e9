"""Signed versions: every version's manifest (security/signing.py) is signed when it is registered, and
every read of a version's files for inference goes through `version_bytes` / `version_file`, which
recompute the manifest from the stored rows, check its signature, then check the file against it. A
refusal is a typed `IntegrityError` and an audit entry (`model.version.refused`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelplane.errors import IntegrityError, NotFound
from modelplane.provenance import current_user
from modelplane.registry.artifacts import memory_file, read_artifact, verified_source
from modelplane.registry.views import ArtifactInfo, ModelVersionInfo, version_view
from modelplane.security import audit
from modelplane.security.signing import load_signing_key, manifest, signing_key
from modelplane.store import Store
from modelplane.store.orm import ModelVersion, RegisteredModel

SIGN_UNSIGNED = "modelplane keys sign-unsigned"


def manifest_of(info: ModelVersionInfo) -> bytes:
    return manifest(
        model=info.model,
        version=info.version,
        task=info.task,
        framework=info.framework,
        spec=info.spec,
        classes=info.classes,
        artifacts={fmt: found.sha256 for fmt, found in info.artifacts.items()},
    )


def sign_row(session: Session, store: Store, row: ModelVersion) -> None:
    """Sign `row`'s manifest as the database holds it (flushed and read back, so the bytes signed are the
    bytes a later load recomputes)."""
    session.flush()
    session.expire(row, ["spec", "classes", "artifacts"])
    key = signing_key(store.settings.resolved_signing_key_file)
    row.signature = key.sign(manifest_of(version_view(session, row)))
    row.signing_key_id = key.key_id


def _refused(
    store: Store, info: ModelVersionInfo, reason: str, message: str, **details: Any
) -> IntegrityError:
    """The error to raise, once the refusal is in the audit ledger (its own transaction: the load that
    was refused writes nothing else)."""
    with store.db.session() as session:
        audit.append(
            session,
            current_user(),
            "model.version.refused",
            info.ref,
            {"reason": reason, "error": message, **details},
        )
    return IntegrityError(message)


def verify_version(store: Store, info: ModelVersionInfo) -> None:
    """`info`'s signature over the manifest of its rows; `IntegrityError` (audited) when it is missing,
    made by another key, or does not match."""
    if info.signature is None or info.signing_key_id is None:
        raise _refused(
            store,
            info,
            "unsigned",
            f"{info.ref} is unsigned (registered before versions were signed), so its files cannot be "
            f"checked and it is not loaded; once you trust its files, sign it with `{SIGN_UNSIGNED}`",
        )
    key = load_signing_key(store.settings.resolved_signing_key_file)
    if key.key_id != info.signing_key_id:
        raise _refused(
            store,
            info,
            "unknown-key",
            f"{info.ref} was signed with key {info.signing_key_id}, not with this platform's signing key "
            f"{key.key_id}; restore that key (MODELPLANE_SIGNING_KEY_FILE) to load it",
        )
    if not key.verifies(manifest_of(info), info.signature):
        raise _refused(
            store,
            info,
            "bad-signature",
            f"{info.ref}'s record does not match its signature: its metadata or its list of files was "
            "changed after it was registered; it is not loaded (restore the database from a backup)",
        )


def _artifact(info: ModelVersionInfo, fmt: str) -> ArtifactInfo:
    found = info.artifacts.get(fmt)
    if found is None:
        raise NotFound(f"{info.ref} has no {fmt} file; its files are {', '.join(sorted(info.artifacts))}")
    return found


def version_bytes(store: Store, info: ModelVersionInfo, fmt: str) -> bytes:
    """The verified plaintext of `info`'s `fmt` file (decrypted in memory when it is sealed)."""
    verify_version(store, info)
    found = _artifact(info, fmt)
    try:
        return read_artifact(store, found.sha256)
    except IntegrityError as exc:
        raise _refused(store, info, "artifact", str(exc), format=fmt, sha256=found.sha256) from exc


@contextmanager
def version_file(store: Store, info: ModelVersionInfo, fmt: str) -> Iterator[Path]:
    """`version_bytes` behind a path, for libraries that read only paths; valid inside the block. A sealed
    file's plaintext is an in-memory file (registry/artifacts.py: `memory_file`), never on disk."""
    verify_version(store, info)
    found = _artifact(info, fmt)
    try:
        source = verified_source(store, found.sha256)
    except IntegrityError as exc:
        raise _refused(store, info, "artifact", str(exc), format=fmt, sha256=found.sha256) from exc
    if isinstance(source, Path):
        yield source
        return
    with memory_file(source, store.artifacts.tmp_dir) as path:
        yield path


@dataclass(frozen=True)
class Signed:
    """What `sign_unsigned` did: the versions it signed, and those it refused (ref -> why)."""

    signed: list[str]
    refused: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        return {"signed": self.signed, "refused": self.refused}


def sign_unsigned(store: Store, *, by: str, model: str | None = None) -> Signed:
    """Sign every version (of `model`, if given) that has no signature, after checking each of its files
    still hashes to what its rows say (a version whose files do not is left unsigned and listed). Each
    signing is audited."""
    query = select(ModelVersion.id).where(ModelVersion.signature.is_(None), ModelVersion.deleted_at.is_(None))
    if model is not None:
        query = query.join(RegisteredModel).where(RegisteredModel.name == model)
    with store.db.session() as session:
        ids = session.scalars(query).all()
    signed: list[str] = []
    refused: dict[str, str] = {}
    for version_id in ids:
        with store.db.session() as session:
            row = session.get_one(ModelVersion, version_id)
            info = version_view(session, row)
            try:
                for found in info.artifacts.values():
                    read_artifact(store, found.sha256)
            except (IntegrityError, NotFound) as exc:
                refused[info.ref] = str(exc)
                continue
            sign_row(session, store, row)
            audit.append(session, by, "model.version.signed", info.ref, {"key_id": row.signing_key_id})
            signed.append(info.ref)
    return Signed(signed, refused)
