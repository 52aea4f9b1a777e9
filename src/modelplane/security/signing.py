"""Ed25519 signatures of version manifests: what a version is (model, version, task, framework, spec,
classes) and the sha256 of every file it has, signed when it is registered and checked whenever it loads.

The key is the platform's: MODELPLANE_SIGNING_KEY_FILE, or `signing.key` under MODELPLANE_HOME, made on
first use (PKCS#8 PEM, mode 0600). It guards against whoever can change the database or the artifact store
but cannot read that file (a shared database, a restored backup, a volume other hosts write to).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from modelplane.errors import Invalid, Misconfigured

_DOMAIN = b"modelplane-version-manifest:v1\n"
SIGNING_KEY_FILE_ENV = "MODELPLANE_SIGNING_KEY_FILE"


@dataclass(frozen=True)
class SigningKey:
    private: Ed25519PrivateKey

    @property
    def key_id(self) -> str:
        """sha256 of the raw public key, shortened: names the key in rows and errors."""
        raw = self.private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return hashlib.sha256(raw).hexdigest()[:16]

    def sign(self, manifest: bytes) -> str:
        return base64.b64encode(self.private.sign(_DOMAIN + manifest)).decode()

    def verifies(self, manifest: bytes, signature: str) -> bool:
        try:
            self.private.public_key().verify(base64.b64decode(signature), _DOMAIN + manifest)
        except (InvalidSignature, ValueError):
            return False
        return True


def manifest(
    *,
    model: str,
    version: int,
    task: str,
    framework: str,
    spec: Mapping[str, Any],
    classes: list[str] | None,
    artifacts: Mapping[str, str],
) -> bytes:
    """Canonical JSON (sorted keys) of a version: the bytes its signature covers. `artifacts`: format ->
    sha256 of the file's plaintext."""
    return orjson.dumps(
        {
            "model": model,
            "version": version,
            "task": task,
            "framework": framework,
            "spec": spec,
            "classes": classes,
            "artifacts": dict(artifacts),
        },
        option=orjson.OPT_SORT_KEYS,
    )


def _read(path: Path) -> SigningKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except ValueError as exc:
        raise Invalid(
            f"{path} is not a PEM private key ({exc}); point {SIGNING_KEY_FILE_ENV} at one"
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise Invalid(f"{path} holds a {type(key).__name__}; version manifests are signed with Ed25519")
    return SigningKey(key)


def load_signing_key(path: Path) -> SigningKey:
    """The key at `path`; `Misconfigured` where it is gone (verifying never makes a new one)."""
    if not path.is_file():
        raise Misconfigured(
            f"the signing key {path} is missing, so no version's signature can be checked; restore it "
            f"(or set {SIGNING_KEY_FILE_ENV} to where it is)"
        )
    return _read(path)


def signing_key(path: Path) -> SigningKey:
    """The key at `path`, made there first when there is none. Written aside and linked into place, so two
    processes starting at once end up with the same key."""
    if path.is_file():
        return _read(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".signing-")  # mkstemp: mode 0600
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
            fh.flush()
            os.fsync(fh.fileno())
        with contextlib.suppress(FileExistsError):  # another process made it first: use theirs
            os.link(tmp, path)
    finally:
        os.unlink(tmp)
    return _read(path)
